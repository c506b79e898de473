// Package identity owns who a caller is and what they may do, for every
// oci-connector component that serves requests (the proxy, the audit
// function, the CSI driver and tokenrefresh):
//
//   - Token reads the caller's token from a request (Basic password or
//     Bearer, the scheme in any case);
//   - Keys and Verifier check a ServiceAccount token's signature, issuer,
//     audience and expiry locally, against the keys the API server
//     publishes (OIDC discovery), so a forged token costs no API call;
//   - Authenticator asks TokenReview about signed tokens only (it proves the
//     bound pod or ServiceAccount still exists), bounded as a whole, and
//     keeps the answer until the token expires or a short TTL;
//   - Authorizer asks SubjectAccessReview about any attributes, with one
//     cache key that covers everything the answer depends on.
//
// Answers live in LRU caches with expiry; refusals have a cache of their
// own, so a flood of them can never push out the answers of valid callers.
package identity
