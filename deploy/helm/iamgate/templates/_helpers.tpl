{{/* The chart name, at most 63 characters. */}}
{{- define "iamgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the objects, at most 63 characters. */}}
{{- define "iamgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the pods. */}}
{{- define "iamgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iamgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "iamgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "iamgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The ServiceAccount's name. */}}
{{- define "iamgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "iamgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference. */}}
{{- define "iamgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
iamgate.durationSeconds: a Go duration ("30s", "1m30s", "500ms", "0s") in
whole seconds, rounded up. Units h, m, s and ms; anything else fails.
*/}}
{{- define "iamgate.durationSeconds" -}}
{{- $key := index . 0 -}}
{{- $d := toString (index . 1) -}}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ms|h|m|s))+$" $d) -}}
{{- fail (printf "server.%s %q: give a duration such as 30s, 2m or 1m30s (units h, m, s, ms)" $key $d) -}}
{{- end -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ms|h|m|s)" $d -1 -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" . | float64 -}}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" . "" -}}
{{- $mul := get (dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001) $unit -}}
{{- $total = addf $total (mulf $n $mul) -}}
{{- end -}}
{{- ceil $total | int -}}
{{- end -}}

{{/* config.server.shutdown_grace in seconds (iamgate's default: 30s). */}}
{{- define "iamgate.shutdownGraceSeconds" -}}
{{- $server := .Values.config.server | default dict -}}
{{- include "iamgate.durationSeconds" (list "shutdown_grace" (default "30s" $server.shutdown_grace)) -}}
{{- end -}}

{{/* config.server.drain_delay in seconds (iamgate's default: 5s): after
SIGTERM, iamgate keeps serving this long with readiness false. */}}
{{- define "iamgate.drainDelaySeconds" -}}
{{- $server := .Values.config.server | default dict -}}
{{- include "iamgate.durationSeconds" (list "drain_delay" (default "5s" $server.drain_delay)) -}}
{{- end -}}

{{/*
iamgate.terminationGracePeriodSeconds: how long Kubernetes waits after it
starts stopping a pod before it kills it:
  shutdown.drainDelaySeconds   the preStop sleep, still serving
+ server.drain_delay           after SIGTERM, still serving, not ready
+ shutdown_grace               in-flight requests finish
+ shutdown.auditFlushSeconds   events of cut requests, sinks closed
+ shutdown.marginSeconds
*/}}
{{- define "iamgate.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown -}}
{{- add (int $s.drainDelaySeconds) (include "iamgate.drainDelaySeconds" . | int) (include "iamgate.shutdownGraceSeconds" . | int) (int $s.auditFlushSeconds) (int $s.marginSeconds) -}}
{{- end -}}

{{/*
iamgate.config: iamgate.yaml. The chart sets listen and metrics_listen from
containerPorts; every env: reference must have a variable in secretEnv or env.
*/}}
{{- define "iamgate.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- range $k := list "listen" "metrics_listen" -}}
{{- if hasKey $cfg $k -}}
{{- fail (printf "config.%s is set by the chart from containerPorts; remove it" $k) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $cfg "listen" (printf ":%d" (int .Values.containerPorts.s3)) -}}
{{- $_ := set $cfg "metrics_listen" (printf ":%d" (int .Values.containerPorts.metrics)) -}}
{{- $out := toYaml $cfg -}}
{{- $names := list -}}
{{- range .Values.secretEnv }}{{ $names = append $names .name }}{{ end -}}
{{- range .Values.env }}{{ $names = append $names .name }}{{ end -}}
{{- range regexFindAll "env:[A-Za-z_][A-Za-z0-9_]*" $out -1 -}}
{{- $v := trimPrefix "env:" . -}}
{{- if not (has $v $names) -}}
{{- fail (printf "config refers to env:%s, but neither secretEnv nor env defines %s" $v $v) -}}
{{- end -}}
{{- end -}}
{{- $out -}}
{{- end -}}

{{/* The probes' scheme: HTTPS when iamgate serves TLS itself. */}}
{{- define "iamgate.probeScheme" -}}
{{- if (.Values.config | default dict).tls }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}
