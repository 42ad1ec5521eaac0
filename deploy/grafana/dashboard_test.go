// Package grafana holds the tests of iamgate's Grafana dashboard: the JSON
// is a dashboard Grafana imports, and every PromQL expression in it parses
// and selects only metrics and labels iamgate exports.
package grafana

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/iamgate/iamgate/deploy/internal/exported"
)

// dashboard is the part of Grafana's dashboard model the file uses,
// decoded strictly so that a misspelt key fails.
type dashboard struct {
	Title        string   `json:"title"`
	UID          string   `json:"uid"`
	Description  string   `json:"description"`
	Tags         []string `json:"tags"`
	Timezone     string   `json:"timezone"`
	Editable     bool     `json:"editable"`
	GraphTooltip int      `json:"graphTooltip"`
	Schema       int      `json:"schemaVersion"`
	Version      int      `json:"version"`
	Refresh      string   `json:"refresh"`
	Time         struct{ From, To string }
	Templating   struct{ List []variable }
	Annotations  struct{ List []json.RawMessage }
	Links        []json.RawMessage `json:"links"`
	Panels       []panel           `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string      `json:"name"`
	Label      string      `json:"label"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Query      any         `json:"query"`
	Definition string      `json:"definition"`
	Refresh    int         `json:"refresh"`
	IncludeAll bool        `json:"includeAll"`
	Multi      bool        `json:"multi"`
	AllValue   string      `json:"allValue"`
	Current    any         `json:"current"`
	Hide       int         `json:"hide"`
	Sort       int         `json:"sort"`
}

type panel struct {
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	ID          int         `json:"id"`
	Collapsed   bool        `json:"collapsed"`
	Datasource  *datasource `json:"datasource"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig json.RawMessage `json:"fieldConfig"`
	Options     json.RawMessage `json:"options"`
	Targets     []struct {
		RefID        string      `json:"refId"`
		Expr         string      `json:"expr"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func load(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile("iamgate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("iamgate-dashboard.json: %v", err)
	}
	return &d
}

// grafanaVars replaces Grafana's variables in a query by values PromQL
// accepts, as Grafana does before sending it.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

var labelValuesRE = regexp.MustCompile(`^label_values\((.+), *([a-z_]+)\)$`)

func TestDashboard(t *testing.T) {
	d := load(t)
	ms, err := exported.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("no title or uid")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		sm := labelValuesRE.FindStringSubmatch(q)
		if sm == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
			continue
		}
		if err := exported.CheckExpr(grafanaVars.Replace(sm[1]), ms); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
		if m, ok := ms[strings.SplitN(sm[1], "{", 2)[0]]; ok && !m.HasLabel(m.Name, sm[2]) && sm[2] != "job" && sm[2] != "instance" {
			t.Errorf("variable %s: %s has no label %s", v.Name, m.Name, sm[2])
		}
	}
	for _, v := range []string{"datasource", "job", "instance", "role_kind"} {
		if !vars[v] {
			t.Errorf("no variable %s", v)
		}
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || p.Description == "" || len(p.Targets) == 0 || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("panel %d %q: title, description, targets or size missing", p.ID, p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				q := grafanaVars.Replace(tg.Expr)
				if err := exported.CheckExpr(q, ms); err != nil {
					t.Errorf("panel %q: %s: %v", p.Title, tg.Expr, err)
				}
				for _, v := range regexp.MustCompile(`\$([a-z_]+)`).FindAllStringSubmatch(q, -1) {
					if !vars[v[1]] {
						t.Errorf("panel %q: unknown variable $%s", p.Title, v[1])
					}
				}
				for name := range ms {
					if regexp.MustCompile(`\b` + name + `\b`).MatchString(q) {
						used[name] = true
					}
				}
			}
		}
	}
	walk(d.Panels)
	// What the dashboard is for: requests and denials by operation and role
	// kind, latency, upstream errors, auth failures, STS, audit delivery
	// and spool, reloads.
	for _, name := range []string{
		"iamgate_requests_total", "iamgate_request_duration_seconds_bucket", "iamgate_upstream_errors_total",
		"iamgate_auth_failures_total", "iamgate_sts_requests_total", "iamgate_audit_delivery_delay_seconds_bucket",
		"iamgate_audit_spool_events", "iamgate_config_reloads_total",
	} {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}
