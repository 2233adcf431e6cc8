{{/*
Names, labels and addresses shared by every template.
*/}}

{{- define "tidings.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name alone when it already
contains the chart name. Kept short enough for "<fullname>-sequence-NN".
*/}}
{{- define "tidings.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tidings.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource; `component` is set by the caller. */}}
{{- define "tidings.labels" -}}
helm.sh/chart: {{ include "tidings.chart" .root }}
{{ include "tidings.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tidings
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels; `component` may be empty (every pod of the release). */}}
{{- define "tidings.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidings.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Name of a component's resources: <fullname>-<component>. */}}
{{- define "tidings.componentName" -}}
{{- printf "%s-%s" (include "tidings.fullname" .root) .component }}
{{- end }}

{{/* Suffix of in-cluster DNS names: ".svc" or ".svc.<clusterDomain>". */}}
{{- define "tidings.svcSuffix" -}}
{{- if .Values.clusterDomain }}
{{- printf "svc.%s" .Values.clusterDomain }}
{{- else }}
{{- print "svc" }}
{{- end }}
{{- end }}

{{/* host:port of a component's Service, for [peers]. */}}
{{- define "tidings.peer" -}}
{{- printf "%s.%s.%s:%d" (include "tidings.componentName" .) .root.Release.Namespace (include "tidings.svcSuffix" .root) (int (include "tidings.grpcPort" .component)) }}
{{- end }}

{{/* Every sequence instance, as a JSON list of "<pod>.<headless>.<ns>.svc:7403". */}}
{{- define "tidings.sequencePeers" -}}
{{- $service := include "tidings.componentName" (dict "root" . "component" "sequence") }}
{{- $peers := list }}
{{- range $i := until (int .Values.sequence.replicas) }}
{{- $peers = append $peers (printf "%s-%d.%s.%s.%s:7403" $service $i $service $.Release.Namespace (include "tidings.svcSuffix" $)) }}
{{- end }}
{{- toJson $peers }}
{{- end }}

{{/* The gRPC port of a component (the gateway's is the one logic pushes to). */}}
{{- define "tidings.grpcPort" -}}
{{- get (dict "gateway" "7401" "logic" "7402" "sequence" "7403" "store" "7404" "sync" "7405") . }}
{{- end }}

{{- define "tidings.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "tidings.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tidings.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding credentials: the user's, or the chart's. */}}
{{- define "tidings.secretName" -}}
{{- default (include "tidings.fullname" .) .Values.credentials.existingSecret }}
{{- end }}

{{/* CQL map literal of the keyspace replication. */}}
{{- define "tidings.scyllaReplication" -}}
{{- $r := .Values.scylla.replication }}
{{- if eq $r.class "SimpleStrategy" }}
{{- printf "{'class': 'SimpleStrategy', 'replication_factor': %d}" (int64 $r.replicationFactor) }}
{{- else }}
{{- $parts := list "'class': 'NetworkTopologyStrategy'" }}
{{- range $dc, $n := $r.datacenters }}
{{- $parts = append $parts (printf "'%s': %d" $dc (int64 $n)) }}
{{- end }}
{{- printf "{%s}" (join ", " $parts) }}
{{- end }}
{{- end }}

{{/*
Checks across values that the JSON schema cannot express. Rendered from the
ConfigMap so that lint and template fail with a readable message.
*/}}
{{- define "tidings.validate" -}}
{{- include "tidings.securityValidate" . }}
{{- $v := .Values }}
{{- $auth := $v.gateway.auth }}
{{- if and (eq $auth.scheme "dev") (not $auth.allowDevelopmentTokens) }}
{{- fail "gateway.auth.scheme=dev lets anyone connect as anyone: set gateway.auth.allowDevelopmentTokens=true to accept that (development only), or use scheme jwt" }}
{{- end }}
{{- if not $v.credentials.existingSecret }}
{{- if and $v.scylla.auth.enabled (or (not $v.scylla.auth.username) (not $v.scylla.auth.password)) }}
{{- fail "scylla.auth.enabled needs scylla.auth.username and scylla.auth.password (or credentials.existingSecret)" }}
{{- end }}
{{- if and (eq $v.redis.mode "standalone") (not $v.redis.url) }}
{{- fail "redis.mode=standalone needs redis.url (or credentials.existingSecret)" }}
{{- end }}
{{- if and (eq $v.redis.mode "cluster") (not $v.redis.clusterUrls) }}
{{- fail "redis.mode=cluster needs redis.clusterUrls (or credentials.existingSecret)" }}
{{- end }}
{{- end }}
{{- range $component := list "gateway" "logic" "store" "sync" "sequence" }}
{{- $c := get $v $component }}
{{- /* Servers get 2 s to finish; a gateway first drains its clients for
     gateway.drain_timeout_ms plus up to 2 s more. */}}
{{- $drain := 2 }}
{{- if eq $component "gateway" }}
{{- $drain = add 4 (div (add (int (default 5000 $v.config.gateway.drain_timeout_ms)) 999) 1000) }}
{{- end }}
{{- if le (int $c.terminationGracePeriodSeconds) (add (int $c.preStopSleepSeconds) $drain) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed %s.preStopSleepSeconds (%d) plus the %d s drain" $component (int $c.terminationGracePeriodSeconds) $component (int $c.preStopSleepSeconds) (int $drain)) }}
{{- end }}
{{- if and (hasKey $c "autoscaling") $c.autoscaling.enabled }}
{{- if gt (int $c.autoscaling.minReplicas) (int $c.autoscaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling.minReplicas must not exceed %s.autoscaling.maxReplicas" $component $component) }}
{{- end }}
{{- if not (and $c.resources.requests $c.resources.requests.cpu) }}
{{- fail (printf "%s.autoscaling needs %s.resources.requests.cpu: the HPA targets a share of it" $component $component) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
