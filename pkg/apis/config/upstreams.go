package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
)

// UpstreamsKey lists, comma-separated, the upstream addresses Connectors
// may name: CIDRs (10.0.0.0/8), host names, or host globs (*.example.com).
// Unset or empty allows any. A tenant who may create Connectors makes the
// controller connect wherever the address says and learns from the status
// whether it answered; this is how the admin keeps that to registries.
const UpstreamsKey = "upstream-allowed"

// upstreamRule is one entry of UpstreamsKey.
type upstreamRule struct {
	prefix netip.Prefix // set for a CIDR
	host   string       // else a host name or glob, lower case
}

func parseUpstreamRules(raw string) ([]upstreamRule, error) {
	var rules []upstreamRule
	for _, entry := range strings.Split(raw, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		switch {
		case entry == "":
			continue
		case strings.Contains(entry, "/"):
			p, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR: %w", UpstreamsKey, entry, err)
			}
			rules = append(rules, upstreamRule{prefix: p.Masked()})
		default:
			if _, err := path.Match(entry, ""); err != nil {
				return nil, fmt.Errorf("%s: %q is not a host glob: %w", UpstreamsKey, entry, err)
			}
			rules = append(rules, upstreamRule{host: entry})
		}
	}
	return rules, nil
}

// Resolver looks up a host's addresses (net.DefaultResolver does).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// AllowsUpstream says whether a Connector may name host (no port): any,
// with no rules; else a host rule matches it, or every address it has
// (itself, when it is an IP) is in a CIDR rule.
func (c *Tenancy) AllowsUpstream(ctx context.Context, resolver Resolver, host string) error {
	if len(c.upstreamRules) == 0 {
		return nil
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	var cidrs bool
	for _, r := range c.upstreamRules {
		if r.host != "" {
			if ok, _ := path.Match(r.host, host); ok {
				return nil
			}
			continue
		}
		cidrs = true
	}
	if !cidrs {
		return fmt.Errorf("%s is not among the upstreams the cluster admin allows (%s in %s)", host, UpstreamsKey, ConfigName)
	}
	addrs, err := addressesOf(ctx, resolver, host)
	if err != nil {
		return fmt.Errorf("resolving %s to check it against %s: %w", host, UpstreamsKey, err)
	}
	for _, a := range addrs {
		if !c.inAllowedCIDR(a) {
			return fmt.Errorf("%s (%s) is not among the upstreams the cluster admin allows (%s in %s)", host, a, UpstreamsKey, ConfigName)
		}
	}
	return nil
}

func (c *Tenancy) inAllowedCIDR(a netip.Addr) bool {
	for _, r := range c.upstreamRules {
		if r.prefix.IsValid() && r.prefix.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func addressesOf(ctx context.Context, resolver Resolver, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("no addresses")
	}
	return addrs, err
}
