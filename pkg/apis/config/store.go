package config

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/configmap"
)

// Config is the admin's configuration in force.
type Config struct {
	Tenancy *Tenancy
}

type cfgKey struct{}

// ToContext carries c.
func ToContext(ctx context.Context, c *Config) context.Context {
	return context.WithValue(ctx, cfgKey{}, c)
}

// FromContext is the Config ToContext carried; nil when none.
func FromContext(ctx context.Context) *Config {
	c, _ := ctx.Value(cfgKey{}).(*Config)
	return c
}

// FromContextOrDefaults is the Config ToContext carried, or the defaults.
func FromContextOrDefaults(ctx context.Context) *Config {
	if c := FromContext(ctx); c != nil {
		return c
	}
	return &Config{Tenancy: DefaultTenancy()}
}

// Store keeps the Config current as the ConfigMap changes (Knative's
// configmap.UntypedStore). The genreconciler (controller.Options
// ConfigStore) and the webhooks put it in each request's context, where
// FromContext reads it.
type Store struct {
	*configmap.UntypedStore

	mu        sync.Mutex
	listeners []func()
}

// NewStore makes a Store; logger hears of updates and of bad ConfigMaps.
func NewStore(logger configmap.Logger) *Store {
	s := &Store{}
	s.UntypedStore = configmap.NewUntypedStore("oci-connector", logger,
		configmap.Constructors{ConfigName: NewTenancyFromConfigMap},
		func(string, any) { s.changed() })
	return s
}

// WatchConfigs follows the ConfigMap through w; a change applies without a
// restart, and a ConfigMap that does not exist (or is deleted) is the
// default.
func (s *Store) WatchConfigs(w configmap.Watcher) {
	if dw, ok := w.(configmap.DefaultingWatcher); ok {
		dw.WatchWithDefault(corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigName}}, s.OnConfigChanged)
		return
	}
	s.UntypedStore.WatchConfigs(w)
}

// Load is the Config in force: the defaults before the ConfigMap is read.
func (s *Store) Load() *Config {
	t, _ := s.UntypedLoad(ConfigName).(*Tenancy)
	if t == nil {
		t = DefaultTenancy()
	}
	return &Config{Tenancy: t}
}

// ToContext carries the Config in force.
func (s *Store) ToContext(ctx context.Context) context.Context {
	return ToContext(ctx, s.Load())
}

// OnChange has f called after every update.
func (s *Store) OnChange(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, f)
}

func (s *Store) changed() {
	s.mu.Lock()
	listeners := append([]func(){}, s.listeners...)
	s.mu.Unlock()
	for _, f := range listeners {
		f()
	}
}

// stores are the Stores of the processes' watchers: every controller and
// webhook that sharedmain starts with one watcher shares one Store, so the
// ConfigMap is read once per process and all see the same Config.
var stores = struct {
	sync.Mutex
	byWatcher map[configmap.Watcher]*Store
}{byWatcher: map[configmap.Watcher]*Store{}}

// StoreFor is the Store of w, made and watching on first use.
func StoreFor(w configmap.Watcher, logger configmap.Logger) *Store {
	stores.Lock()
	defer stores.Unlock()
	if s, ok := stores.byWatcher[w]; ok {
		return s
	}
	s := NewStore(logger)
	s.WatchConfigs(w)
	stores.byWatcher[w] = s
	return s
}
