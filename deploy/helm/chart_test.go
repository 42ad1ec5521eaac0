// Package helm holds the tests of the iamgate Helm chart in iamgate/: lint,
// rendering of several value sets against golden files, strict decoding of
// every object into the Kubernetes API types, and the chart's iamgate.yaml
// loaded by iamgate's own configuration loader.
package helm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/iamgate/iamgate/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const chartDir = "iamgate"

// valueSets are the value files rendered and compared with golden files.
var valueSets = []string{"default", "minimal", "production", "everything"}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readValues(t *testing.T, name string) map[string]any {
	t.Helper()
	if name == "default" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(filepath.Join("testdata", "values", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// render renders the chart as `helm template iamgate deploy/helm/iamgate -n iamgate -f values`.
func render(t *testing.T, c *chart.Chart, vals map[string]any) (map[string]string, error) {
	t.Helper()
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}
	rv, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name: "iamgate", Namespace: "iamgate", Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	out, err := engine.Render(c, rv)
	if err != nil {
		return nil, err
	}
	for name := range out {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(out, name)
		}
	}
	return out, nil
}

func mustRender(t *testing.T, c *chart.Chart, vals map[string]any) map[string]string {
	t.Helper()
	out, err := render(t, c, vals)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// manifest is the rendered chart as one document stream, in template order.
func manifest(out map[string]string) string {
	names := make([]string, 0, len(out))
	for n, s := range out {
		if strings.TrimSpace(s) != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", n, strings.TrimSpace(out[n]))
	}
	return b.String()
}

// objects are the rendered objects, decoded strictly.
type objects struct {
	deployment     *appsv1.Deployment
	configMap      *corev1.ConfigMap
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	ingress        *networkingv1.Ingress
	networkPolicy  *networkingv1.NetworkPolicy
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor *ServiceMonitor
	prometheusRule *PrometheusRule
	kinds          []string
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll decodes every document of out into its Kubernetes API type,
// refusing unknown fields, so that a misspelt or misplaced field fails.
func decodeAll(t *testing.T, out map[string]string) *objects {
	t.Helper()
	objs := &objects{}
	for name, text := range out {
		for _, doc := range docSep.Split(text, -1) {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
				continue
			}
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
			}
			var tm struct{ APIVersion, Kind string }
			if err := json.Unmarshal(js, &tm); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var target any
			switch tm.APIVersion + "/" + tm.Kind {
			case "apps/v1/Deployment":
				objs.deployment = &appsv1.Deployment{}
				target = objs.deployment
			case "v1/ConfigMap":
				objs.configMap = &corev1.ConfigMap{}
				target = objs.configMap
			case "v1/Service":
				objs.service = &corev1.Service{}
				target = objs.service
			case "v1/ServiceAccount":
				objs.serviceAccount = &corev1.ServiceAccount{}
				target = objs.serviceAccount
			case "networking.k8s.io/v1/Ingress":
				objs.ingress = &networkingv1.Ingress{}
				target = objs.ingress
			case "networking.k8s.io/v1/NetworkPolicy":
				objs.networkPolicy = &networkingv1.NetworkPolicy{}
				target = objs.networkPolicy
			case "policy/v1/PodDisruptionBudget":
				objs.pdb = &policyv1.PodDisruptionBudget{}
				target = objs.pdb
			case "autoscaling/v2/HorizontalPodAutoscaler":
				objs.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
				target = objs.hpa
			case "monitoring.coreos.com/v1/ServiceMonitor":
				objs.serviceMonitor = &ServiceMonitor{}
				target = objs.serviceMonitor
			case "monitoring.coreos.com/v1/PrometheusRule":
				objs.prometheusRule = &PrometheusRule{}
				target = objs.prometheusRule
			default:
				t.Fatalf("%s: unexpected object %s %s", name, tm.APIVersion, tm.Kind)
			}
			if err := decodeStrict(js, target); err != nil {
				t.Fatalf("%s: %s %s: %v\n%s", name, tm.APIVersion, tm.Kind, err, doc)
			}
			objs.kinds = append(objs.kinds, tm.Kind)
		}
	}
	sort.Strings(objs.kinds)
	return objs
}

// decodeStrict decodes js into v as the API server does in strict mode:
// field names are case-sensitive, and unknown or duplicate fields are
// errors.
func decodeStrict(js []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(js, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func TestLint(t *testing.T) {
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			l := lint.AllWithKubeVersion(chartDir, readValues(t, name), "iamgate",
				&chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"})
			for _, m := range l.Messages {
				// A fail() in a template is only an InfoSev message to lint.
				if m.Severity >= support.WarningSev || strings.Contains(m.Error(), "Fail:") {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

// Each value set renders to its golden file, and every object decodes
// strictly into its API type.
func TestRenderGolden(t *testing.T) {
	c := loadChart(t)
	want := map[string][]string{
		"default":    {"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"},
		"minimal":    {"ConfigMap", "Deployment", "Service"},
		"production": {"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"},
		"everything": {"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"},
	}
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			out := mustRender(t, c, readValues(t, name))
			objs := decodeAll(t, out)
			if !slices.Equal(objs.kinds, want[name]) {
				t.Errorf("objects %v, want %v", objs.kinds, want[name])
			}
			got := manifest(out)
			golden := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(w) {
				t.Errorf("rendered chart differs from %s (go test -update rewrites it):\n%s", golden, firstDiff(string(w), got))
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, x, y)
		}
	}
	return ""
}

// A misspelt field is caught by the strict decoding.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          securityContext:\n            readOnlyRootFileSystem: true\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: A\n          expression: up\n",
	} {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		var target any = &appsv1.Deployment{}
		if strings.Contains(doc, "PrometheusRule") {
			target = &PrometheusRule{}
		}
		if err := decodeStrict(js, target); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%q decoded: %v", doc, err)
		}
	}
}

func TestSecurityContextAndProbes(t *testing.T) {
	c := loadChart(t)
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			d := decodeAll(t, mustRender(t, c, readValues(t, name))).deployment
			ps := d.Spec.Template.Spec
			if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot ||
				ps.SecurityContext.SeccompProfile == nil || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod security context %+v", ps.SecurityContext)
			}
			if len(ps.Containers) != 1 {
				t.Fatalf("%d containers", len(ps.Containers))
			}
			ct := ps.Containers[0]
			sc := ct.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
				sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
				sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("container security context %+v", sc)
			}
			if ct.ReadinessProbe == nil || ct.ReadinessProbe.HTTPGet == nil || ct.ReadinessProbe.HTTPGet.Path != "/_iamgate/readyz" ||
				ct.ReadinessProbe.HTTPGet.Port.StrVal != "s3" {
				t.Errorf("readiness probe %+v", ct.ReadinessProbe)
			}
			if ct.LivenessProbe == nil || ct.LivenessProbe.HTTPGet == nil || ct.LivenessProbe.HTTPGet.Path != "/_iamgate/healthz" {
				t.Errorf("liveness probe %+v", ct.LivenessProbe)
			}
			if ct.StartupProbe != nil && ct.StartupProbe.HTTPGet.Path != "/_iamgate/healthz" {
				t.Errorf("startup probe %+v", ct.StartupProbe)
			}
			// The writable paths are volumes; everything else is read-only.
			mounts := map[string]bool{}
			for _, m := range ct.VolumeMounts {
				mounts[m.MountPath] = m.ReadOnly
			}
			if ro, ok := mounts["/etc/iamgate"]; !ok || !ro {
				t.Errorf("config mount %v", ct.VolumeMounts)
			}
			for _, p := range []string{"/var/spool/iamgate", "/tmp"} {
				if ro, ok := mounts[p]; !ok || ro {
					t.Errorf("%s is not a writable volume: %v", p, ct.VolumeMounts)
				}
			}
			if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
				t.Error("the service account token is mounted")
			}
		})
	}
}

// terminationGracePeriodSeconds covers the drain delay, shutdown_grace,
// the audit flush and the margin; the preStop sleep is the drain delay.
func TestTerminationGracePeriod(t *testing.T) {
	c := loadChart(t)
	for _, tt := range []struct {
		grace  any // nil: left out (iamgate's default, 30s)
		drain  int
		graceS int
		own    any // config.server.drain_delay; nil: left out (5s)
		ownS   int
	}{
		{nil, 10, 30, nil, 5}, {"30s", 10, 30, "0s", 0}, {"1m30s", 5, 90, "10s", 10}, {"500ms", 0, 1, nil, 5},
		{"2h", 20, 7200, "1500ms", 2}, {"0s", 10, 0, nil, 5}, {"1.5m", 10, 90, "1m", 60},
	} {
		t.Run(fmt.Sprint(tt.grace), func(t *testing.T) {
			server := map[string]any{}
			if tt.grace != nil {
				server["shutdown_grace"] = tt.grace
			}
			if tt.own != nil {
				server["drain_delay"] = tt.own
			}
			vals := map[string]any{
				"shutdown": map[string]any{"drainDelaySeconds": tt.drain, "auditFlushSeconds": 5, "marginSeconds": 5},
				"config":   map[string]any{"server": server},
			}
			d := decodeAll(t, mustRender(t, c, vals)).deployment
			got := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			if want := int64(tt.drain + tt.ownS + tt.graceS + 5 + 5); got == nil || *got != want {
				t.Errorf("terminationGracePeriodSeconds %d, want %d", ptrVal(got), want)
			}
			lc := d.Spec.Template.Spec.Containers[0].Lifecycle
			if tt.drain == 0 {
				if lc != nil {
					t.Errorf("preStop %+v with no drain delay", lc)
				}
				return
			}
			if lc == nil || lc.PreStop == nil || lc.PreStop.Sleep == nil || lc.PreStop.Sleep.Seconds != int64(tt.drain) {
				t.Errorf("preStop %+v, want a sleep of %d s", lc, tt.drain)
			}
			// The same duration as iamgate reads it.
			if tt.grace != nil {
				f := parseConfig(t, c, vals)
				if s := int(math.Ceil(f.Server.ShutdownGrace.Seconds())); s != tt.graceS {
					t.Errorf("iamgate reads shutdown_grace %v as %d s, the chart as %d", tt.grace, s, tt.graceS)
				}
			}
			if f := parseConfig(t, c, vals); int(math.Ceil(f.Server.DrainDelay.Seconds())) != tt.ownS {
				t.Errorf("iamgate reads drain_delay %v as %v, the chart as %d s", tt.own, f.Server.DrainDelay, tt.ownS)
			}
		})
	}
	for _, key := range []string{"shutdown_grace", "drain_delay"} {
		for _, bad := range []string{"30", "30 s", "1d", "-5s"} {
			_, err := render(t, c, map[string]any{"config": map[string]any{"server": map[string]any{key: bad}}})
			if err == nil || !strings.Contains(err.Error(), "server."+key) {
				t.Errorf("%s %q: %v", key, bad, err)
			}
		}
	}
}

// The checksum annotation changes with the configuration and the policies,
// and only with them.
func TestChecksumRollsPods(t *testing.T) {
	c := loadChart(t)
	sum := func(vals map[string]any) string {
		d := decodeAll(t, mustRender(t, c, vals)).deployment
		s := d.Spec.Template.Annotations["checksum/config"]
		if len(s) != 64 {
			t.Fatalf("checksum/config %q", s)
		}
		return s
	}
	base := sum(nil)
	if sum(nil) != base {
		t.Fatal("checksum is not stable")
	}
	if sum(map[string]any{"replicaCount": 5}) != base {
		t.Error("checksum changed without a configuration change")
	}
	if sum(map[string]any{"config": map[string]any{"log": map[string]any{"level": "debug"}}}) == base {
		t.Error("checksum unchanged after a configuration change")
	}
	if sum(map[string]any{"policies": map[string]any{"read-all.json": `{"Version":"2012-10-17","Statement":[]}`}}) == base {
		t.Error("checksum unchanged after a policy change")
	}
}

// The NetworkPolicy's egress lists DNS and exactly the destinations
// configured, and nothing for a destination left empty.
func TestNetworkPolicyEgress(t *testing.T) {
	c := loadChart(t)
	np := decodeAll(t, mustRender(t, c, readValues(t, "production"))).networkPolicy
	if np == nil {
		t.Fatal("no NetworkPolicy")
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
		t.Errorf("policy types %v", np.Spec.PolicyTypes)
	}
	var got []string
	for _, r := range np.Spec.Egress {
		got = append(got, describeRule(r))
	}
	want := []string{
		"ns{kubernetes.io/metadata.name=kube-system} pod{k8s-app=kube-dns} -> UDP/53 TCP/53",
		"ns{kubernetes.io/metadata.name=minio} pod{app.kubernetes.io/name=minio} -> TCP/9000",
		"ip 203.0.113.10/32 -> TCP/443",
		"ns{kubernetes.io/metadata.name=redis} -> TCP/6379",
		"ip 198.51.100.0/24 except [198.51.100.7/32] -> TCP/443",
	}
	if !slices.Equal(got, want) {
		t.Errorf("egress:\n  got  %q\n  want %q", got, want)
	}
	// Ingress: the S3 port from the configured peers, metrics from monitoring.
	if len(np.Spec.Ingress) != 2 || describePorts(np.Spec.Ingress[0].Ports) != "TCP/s3" || describePorts(np.Spec.Ingress[1].Ports) != "TCP/metrics" {
		t.Fatalf("ingress %+v", np.Spec.Ingress)
	}
	if len(np.Spec.Ingress[1].From) != 1 || np.Spec.Ingress[1].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
		t.Errorf("metrics from %+v", np.Spec.Ingress[1].From)
	}

	// Nothing configured: DNS only; no DNS either: no egress at all.
	np = decodeAll(t, mustRender(t, c, map[string]any{"networkPolicy": map[string]any{"enabled": true}})).networkPolicy
	if len(np.Spec.Egress) != 1 || !strings.HasSuffix(describeRule(np.Spec.Egress[0]), "-> UDP/53 TCP/53") {
		t.Errorf("egress with no destinations: %+v", np.Spec.Egress)
	}
	np = decodeAll(t, mustRender(t, c, map[string]any{"networkPolicy": map[string]any{"enabled": true,
		"egress": map[string]any{"dns": map[string]any{"enabled": false}}}})).networkPolicy
	if np.Spec.Egress == nil || len(np.Spec.Egress) != 0 {
		t.Errorf("egress without DNS: %+v", np.Spec.Egress)
	}
}

func describeRule(r networkingv1.NetworkPolicyEgressRule) string {
	var parts []string
	for _, p := range r.To {
		var s []string
		if p.IPBlock != nil {
			x := "ip " + p.IPBlock.CIDR
			if len(p.IPBlock.Except) > 0 {
				x += fmt.Sprintf(" except %v", p.IPBlock.Except)
			}
			s = append(s, x)
		}
		if p.NamespaceSelector != nil {
			s = append(s, "ns"+describeLabels(p.NamespaceSelector.MatchLabels))
		}
		if p.PodSelector != nil {
			s = append(s, "pod"+describeLabels(p.PodSelector.MatchLabels))
		}
		parts = append(parts, strings.Join(s, " "))
	}
	return strings.Join(parts, ", ") + " -> " + describePorts(r.Ports)
}

func describePorts(ports []networkingv1.NetworkPolicyPort) string {
	var s []string
	for _, p := range ports {
		proto := "TCP"
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		s = append(s, proto+"/"+p.Port.String())
	}
	return strings.Join(s, " ")
}

func describeLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var s []string
	for _, k := range keys {
		s = append(s, k+"="+m[k])
	}
	return "{" + strings.Join(s, ",") + "}"
}

// parseConfig renders the chart with vals and loads its iamgate.yaml and
// policy files with iamgate's configuration loader, with every secretEnv
// variable set to a dummy value.
func parseConfig(t *testing.T, c *chart.Chart, vals map[string]any) *config.File {
	t.Helper()
	objs := decodeAll(t, mustRender(t, c, vals))
	cm, d := objs.configMap, objs.deployment
	dir := t.TempDir()
	// Lay out the files as the ConfigMap volume's items do.
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, it := range v.ConfigMap.Items {
			data, ok := cm.Data[it.Key]
			if !ok {
				t.Fatalf("volume item %q is not in the ConfigMap", it.Key)
			}
			p := filepath.Join(dir, it.Path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = strings.Repeat("s", 40) // a dummy secret, long enough for every key
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "iamgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The tlsSecret volume: a certificate in its place.
	if bytes.Contains(data, []byte("/etc/iamgate-tls/")) {
		tlsDir := filepath.Join(dir, "tls")
		writeTestCert(t, tlsDir)
		data = bytes.ReplaceAll(data, []byte("/etc/iamgate-tls/"), []byte(tlsDir+"/"))
	}
	f, _, err := config.Parse(filepath.Join(dir, "iamgate.yaml"), data, dir, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("iamgate does not load the chart's configuration: %v\n%s", err, data)
	}
	return f
}

// The chart's iamgate.yaml, with its policy files and Secret-backed
// variables, is a configuration iamgate loads; its listeners match the
// container ports.
func TestConfigLoads(t *testing.T) {
	c := loadChart(t)
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			vals := readValues(t, name)
			f := parseConfig(t, c, vals)
			d := decodeAll(t, mustRender(t, c, vals)).deployment
			ports := map[string]int32{}
			for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
				ports[p.Name] = p.ContainerPort
			}
			if f.Listen != fmt.Sprintf(":%d", ports["s3"]) || f.MetricsListen != fmt.Sprintf(":%d", ports["metrics"]) {
				t.Errorf("listen %q, metrics_listen %q; ports %v", f.Listen, f.MetricsListen, ports)
			}
		})
	}
}

// Mistakes in the values fail the rendering with a message that says what
// to change.
func TestValueMistakes(t *testing.T) {
	c := loadChart(t)
	for _, tt := range []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"config": map[string]any{"listen": ":80"}}, "config.listen is set by the chart from containerPorts"},
		{map[string]any{"config": map[string]any{"audit": map[string]any{"fingerprint_key": "env:NOT_DEFINED"}}},
			"config refers to env:NOT_DEFINED, but neither secretEnv nor env defines NOT_DEFINED"},
		{map[string]any{"policies": map[string]any{"../x.json": "{}"}}, `policies: "../x.json" is not a plain file name`},
	} {
		_, err := render(t, c, tt.vals)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.vals, err, tt.want)
		}
	}
}

// Secrets are only referenced: each secretEnv entry is a secretKeyRef, and
// no Secret object is rendered.
func TestSecretsByReference(t *testing.T) {
	c := loadChart(t)
	objs := decodeAll(t, mustRender(t, c, nil))
	if slices.Contains(objs.kinds, "Secret") {
		t.Fatal("the chart renders a Secret")
	}
	got := map[string]string{}
	for _, e := range objs.deployment.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not from a Secret", e.Name)
			continue
		}
		got[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
	}
	want := map[string]string{
		"MINIO_ACCESS_KEY": "iamgate-upstream/access-key", "MINIO_SECRET_KEY": "iamgate-upstream/secret-key",
		"IAMGATE_SESSION_KEY": "iamgate-keys/session-key", "IAMGATE_FINGERPRINT_KEY": "iamgate-keys/fingerprint-key",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secret env %v, want %v", got, want)
	}
	for k := range want {
		if !strings.Contains(objs.configMap.Data["iamgate.yaml"], "env:"+k) {
			t.Errorf("iamgate.yaml does not use env:%s", k)
		}
	}
}

// The PrometheusRule carries exactly the rule file of deploy/prometheus,
// through the chart's copy of it.
func TestPrometheusRuleMatchesRuleFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "prometheus", "iamgate-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(chartDir, "files", "iamgate-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, cp) {
		t.Fatal("deploy/helm/iamgate/files/iamgate-rules.yaml differs from deploy/prometheus/iamgate-rules.yaml: copy it")
	}
	var want PrometheusRuleSpec
	js, err := yaml.YAMLToJSON(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeStrict(js, &want); err != nil {
		t.Fatal(err)
	}
	pr := decodeAll(t, mustRender(t, loadChart(t), readValues(t, "production"))).prometheusRule
	if pr == nil {
		t.Fatal("no PrometheusRule")
	}
	if !reflect.DeepEqual(pr.Spec, want) || len(want.Groups) == 0 {
		t.Errorf("PrometheusRule spec differs from the rule file")
	}
	if pr.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("labels %v", pr.Labels)
	}
}

// writeTestCert writes a self-signed tls.crt and tls.key into dir, as a
// kubernetes.io/tls Secret volume holds them.
func writeTestCert(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "s3.example.org"},
		DNSNames: []string{"s3.example.org"}, NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func ptrVal(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}
