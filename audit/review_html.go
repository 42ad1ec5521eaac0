package audit

import (
	_ "embed"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

//go:embed review.html
var reviewHTML string

// reviewTemplate renders a Review as one self-contained HTML page: inline
// CSS and SVG, no script, no external resource (its Content-Security-Policy
// forbids them). html/template escapes every value, all of which may come
// from the audit files, which callers can influence.
var reviewTemplate = template.Must(template.New("review").Funcs(template.FuncMap{
	"tm":     htmlTime,
	"bytes":  reviewBytes,
	"claims": claimsText,
	"ident":  identityText,
	"join":   func(s []string) string { return strings.Join(s, ", ") },
	"counts": countsText,
	"status": roleStatusText,
	"trust":  trustStatusText,
	"period": periodText,
	"until":  func(*time.Time) string { return "" }, // replaced by WriteHTML: relative to the review's as-of
}).Parse(reviewHTML))

// maxFindingsShown bounds the chain problems and warnings an HTML review
// lists; audit verify lists them all.
const maxFindingsShown = 50

// reviewView is what the template reads.
type reviewView struct {
	R            *Review
	Charts       []template.HTML
	Problems     []Finding
	Warnings     []Finding
	FindingsCut  int
	Expiring     []CredentialUsage
	Warning      string
	DenialsTotal int64
}

// WriteHTML writes the review as one self-contained HTML page a reviewer
// can read, print, sign and attach as evidence.
func (r *Review) WriteHTML(w io.Writer) error {
	v := reviewView{R: r, Charts: reviewCharts(r.Series)}
	v.Problems = firstN(r.Chain.Problems, maxFindingsShown)
	v.Warnings = firstN(r.Chain.Warnings, maxFindingsShown)
	v.FindingsCut = len(r.Chain.Problems) - len(v.Problems) + len(r.Chain.Warnings) - len(v.Warnings)
	for _, c := range r.ServiceCredentials {
		if c.Expired || c.ExpiresSoon {
			v.Expiring = append(v.Expiring, c)
		}
	}
	v.Warning = durationText(time.Duration(r.ExpiryWarning) * time.Second)
	for _, p := range r.Series.Points {
		v.DenialsTotal += p.Denials
	}
	t, err := reviewTemplate.Clone()
	if err != nil {
		return err
	}
	asOf := r.AsOf
	t.Funcs(template.FuncMap{"until": func(e *time.Time) string {
		if e == nil {
			return "—"
		}
		return durationText(e.Sub(asOf))
	}})
	return t.Execute(w, v)
}

// htmlTime prints a time in UTC to the second; "—" for none.
func htmlTime(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func periodText(r *Review) string {
	from, to := "the beginning", "the end of the files"
	if r.Since != nil {
		from = htmlTime(r.Since)
	}
	if r.Until != nil {
		to = htmlTime(r.Until)
	}
	return from + " to " + to
}

// durationText prints d in days, or hours below two days.
func durationText(d time.Duration) string {
	if d >= 48*time.Hour {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	if d >= 2*time.Hour {
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return d.Round(time.Minute).String()
}

// identityText names an identity: its user name and subject.
func identityText(v any) string {
	var id Identity
	switch x := v.(type) {
	case Identity:
		id = x
	case *Identity:
		if x == nil {
			return "—"
		}
		id = *x
	}
	switch {
	case id.Subject == "":
		return id.Username
	case id.Username == "" || id.Username == id.Subject:
		return id.Subject
	}
	return id.Username + " (" + id.Subject + ")"
}

func roleStatusText(s string) string {
	switch s {
	case RoleUsed:
		return "used"
	case RoleServiceOnly:
		return "used by service credentials only"
	case RoleUnused:
		return "unused in the period"
	}
	return s
}

func trustStatusText(s string) string {
	switch s {
	case TrustMatched:
		return "matched"
	case TrustUnmatched:
		return "matched nobody"
	case TrustUndetermined:
		return "issuer used; rule not recorded"
	}
	return s
}
