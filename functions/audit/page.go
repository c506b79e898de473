package main

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/oci-connector/oci-connector/pkg/events"
)

// pageTemplate lists recent events with the filters of GET /events, rendered
// on the server: no script, works anywhere.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oci-connector audit</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;font-size:.9rem}
.denied{color:#a40000}form{margin-bottom:1rem}label{margin-right:.8rem}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem;margin-bottom:1rem}.chart h2{font-size:1rem;margin:.2rem 0}
.chart text{font-size:12px;font-family:system-ui,sans-serif}
</style></head><body>
<h1>oci-connector audit</h1>
{{if .Ephemeral}}<p class="denied" id="ephemeral"><strong>This audit trail is ephemeral:</strong> it is kept on {{.Ephemeral}} and is lost when the audit function's pod goes. Name a PostgreSQL database (DATABASE_URL) or mount a PersistentVolumeClaim (config/600-audit.yaml).</p>{{end}}
<form method="get" action="/">
<label>Type <select name="type"><option value="">any</option>{{range .Types}}<option value="{{.}}"{{if eq . $.Filter.Type}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>Namespace <input name="namespace" value="{{.Filter.Namespace}}"></label>
<label>Connector <input name="connector" value="{{.Filter.Connector}}"></label>
<label>Identity <input name="identity" value="{{.Filter.Identity}}" size="40"></label>
<label>Image <input name="subject" value="{{.Filter.Subject}}" size="40"></label>
<button type="submit">Filter</button>
</form>
{{if .Error}}<p class="denied">{{.Error}}</p>{{end}}
{{if .Charts}}<div class="charts">{{range .Charts}}<section class="chart" id="{{.ID}}"><h2>{{.Title}}</h2>
<svg width="620" height="{{.Height}}" role="img" aria-label="{{.Title}}">{{$fill := .Fill}}{{$unit := .Unit}}{{range .Bars}}<text x="0" y="{{.TextY}}">{{.Label}}</text><rect x="260" y="{{.Y}}" width="{{.Width}}" height="16" fill="{{$fill}}"></rect><text x="{{.NumberX}}" y="{{.TextY}}">{{.N}}{{$unit}}</text>{{else}}<text x="0" y="14">Nothing in the window.</text>{{end}}</svg></section>{{end}}</div>{{end}}
{{if .Login}}<form method="post" action="/login"><input type="hidden" name="csrf" value="{{.CSRF}}"><label>Kubernetes token <input name="token" type="password" size="60"></label>
<button type="submit">Log in</button></form><p>You see the events of the namespaces where you may <code>get connectors/audit</code> (ClusterRole oci-connector-audit-reader).</p>{{end}}
<table id="events"><thead><tr><th>Time</th><th>Type</th><th>Image</th><th>Identity</th><th>Outcome</th><th>Reason</th><th>Connector</th></tr></thead><tbody>
{{range .Records}}<tr class="{{.Outcome}}"><td>{{.Time.Format "2006-01-02 15:04:05Z07:00"}}</td><td>{{.Type}}</td><td>{{.Subject}}</td><td>{{.Identity}}</td><td>{{.Outcome}}</td><td>{{.Reason}}</td><td>{{.Namespace}}/{{.Connector}}</td></tr>
{{else}}<tr><td colspan="7">No events.</td></tr>{{end}}
</tbody></table>
{{if .Next}}<p><a id="next" href="{{.Next}}">Older events</a></p>{{end}}
</body></html>`))

var eventTypes = []string{events.ImagePulled, events.ImagePushed, events.AccessDenied, events.CredentialsRotated, events.PullSecretsRefresh, events.PullSecretsRotated}

// pageData is what the page shows.
type pageData struct {
	Filter    filter
	Types     []string
	Records   []record
	Next      string
	Error     string
	Login     bool
	CSRF      string
	Charts    []chart
	Ephemeral string
}

func (s *server) page(w http.ResponseWriter, r *http.Request) {
	data := pageData{Types: eventTypes, Ephemeral: s.ephemeral}
	f, err := filterFrom(r)
	data.Filter = f
	if err == nil {
		f.Namespaces, err = s.readers.scope(r, s.store.namespaces)
		var se *httpError
		if errors.As(err, &se) && se.status == http.StatusUnauthorized {
			data.Login, data.CSRF = true, csrfToken(w, r)
		}
	}
	if err == nil {
		// The charts cover the filter's window, or the default one.
		since, until := f.Since, f.Until
		if until.IsZero() {
			until = s.now()
		}
		if since.IsZero() {
			since = until.Add(-defaultStatsWindow)
		}
		var st statistics
		if st, err = s.store.stats(r.Context(), since, until, f.Namespaces); err == nil {
			data.Charts = chartsOf(st, until.Sub(since).Round(time.Minute))
		}
	}
	if err == nil {
		var next string
		data.Records, next, err = s.store.query(r.Context(), f)
		if next != "" {
			q := r.URL.Query()
			q.Set("cursor", next)
			data.Next = "/?" + q.Encode()
		}
	}
	if err != nil {
		data.Error = err.Error()
	}
	s.renderPage(w, data)
}

func (s *server) renderPage(w http.ResponseWriter, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTemplate.Execute(w, data); err != nil {
		s.logger.Errorw("Rendering the page", zap.Error(err))
	}
}

// login opens a session for a reader's token, and goes back to the page.
// The form must carry the CSRF token of its cookie, and the token must be
// one the API server accepts.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	if !csrfValid(r) {
		http.Error(w, "the login form has expired or did not come from this page; reload the page and log in again", http.StatusForbidden)
		return
	}
	token := r.PostFormValue("token")
	if token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if _, _, err := s.readers.authn.Authenticate(r.Context(), token, nil); err != nil {
		se := authError(err, " by the API server")
		http.Error(w, se.message, se.status)
		return
	}
	s.readers.sessions.start(w, r, token)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
