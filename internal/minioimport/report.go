package minioimport

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for a person: what was carried, what was
// carried with a difference, what was not, and the statements MinIO
// decides differently.
func (r *Report) WriteText(w io.Writer) {
	sections := []struct {
		o     Outcome
		title string
	}{
		{NotCarried, "Not carried over"},
		{Changed, "Carried over, with differences"},
		{Carried, "Carried over"},
	}
	for _, s := range sections {
		var lines []string
		for _, it := range r.Items {
			if it.Outcome != s.o {
				continue
			}
			line := fmt.Sprintf("  %s %s", it.Kind, it.Name)
			if it.Source != "" {
				line += " (" + it.Source + ")"
			}
			if it.As != "" {
				line += " → " + it.As
			}
			if it.Detail != "" {
				line += ": " + it.Detail
			}
			lines = append(lines, line)
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s (%d):\n%s\n\n", s.title, len(lines), strings.Join(lines, "\n"))
	}
	fmt.Fprintf(w, "Decided differently by MinIO (%d; iamgate follows AWS):\n", len(r.Compat))
	for _, f := range r.Compat {
		fmt.Fprintf(w, "  %s\n", f.String())
	}
	fmt.Fprintf(w, "\nThe configuration reads these environment variables: %s\n", strings.Join(r.Env, ", "))
}
