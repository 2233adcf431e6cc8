{{/*
Keys of the chart's Secret (without credentials.existingSecret): the Redis
URL(s), which may carry a password, and the ScyllaDB credentials when
password authentication is on.
*/}}
{{- define "tidings.secretData" -}}
{{- $keys := .Values.credentials.keys }}
{{- if eq .Values.redis.mode "cluster" }}
{{ $keys.redisClusterUrls }}: {{ join "," .Values.redis.clusterUrls | toJson }}
{{- else }}
{{ $keys.redisUrl }}: {{ .Values.redis.url | toJson }}
{{- end }}
{{- include "tidings.scyllaSecretData" . }}
{{- end }}

{{- define "tidings.scyllaSecretData" -}}
{{- if .Values.scylla.auth.enabled }}
{{ .Values.credentials.keys.scyllaUsername }}: {{ .Values.scylla.auth.username | toJson }}
{{ .Values.credentials.keys.scyllaPassword }}: {{ .Values.scylla.auth.password | toJson }}
{{- end }}
{{- end }}
