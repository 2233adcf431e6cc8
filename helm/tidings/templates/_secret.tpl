{{/*
Keys of the chart's Secret (without credentials.existingSecret): the service
token every internal gRPC call carries, the Redis URL(s), which may carry a
password, and the ScyllaDB credentials when password authentication is on.
*/}}
{{- define "tidings.secretData" -}}
{{- $keys := .Values.credentials.keys }}
{{ $keys.serviceToken }}: {{ include "tidings.serviceToken" . | toJson }}
{{- if eq .Values.redis.mode "cluster" }}
{{ $keys.redisClusterUrls }}: {{ join "," .Values.redis.clusterUrls | toJson }}
{{- else }}
{{ $keys.redisUrl }}: {{ .Values.redis.url | toJson }}
{{- end }}
{{- include "tidings.scyllaSecretData" . }}
{{- if include "tidings.jwtHsSecretInSecret" . }}
{{ $keys.jwtHsSecret }}: {{ include "tidings.jwtHsSecret" . | toJson }}
{{- end }}
{{- end }}

{{/*
"true" when the gateway reads its JWT HS secret from the Secret: the chart's
(gateway.auth.jwt.hsSecret set, or generated when no JWKS is configured) or
yours (credentials.existingSecret, where the key is optional); empty
otherwise.
*/}}
{{- define "tidings.jwtHsSecretInSecret" -}}
{{- $jwt := .Values.gateway.auth.jwt }}
{{- $jwks := or $jwt.jwksUrl (include "tidings.jwksFileEnabled" .) }}
{{- if and (eq .Values.gateway.auth.scheme "jwt") (or $jwt.hsSecret (not $jwks) .Values.credentials.existingSecret) }}true{{ end }}
{{- end }}

{{/*
The JWT HS secret: gateway.auth.jwt.hsSecret when set; else the one the
release's Secret already holds (kept on upgrade); else a new random one
(first install), which the product's backend reads from the Secret to sign
its users' tokens. Generated once per render.
*/}}
{{- define "tidings.jwtHsSecret" -}}
{{- $jwt := .Values.gateway.auth.jwt }}
{{- if $jwt.hsSecret }}
{{- $jwt.hsSecret }}
{{- else }}
{{- if not (hasKey $jwt "_rendered") }}
{{- $secret := randAlphaNum 48 }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "tidings.fullname" .) }}
{{- $key := .Values.credentials.keys.jwtHsSecret }}
{{- if and $existing $existing.data (hasKey $existing.data $key) }}
{{- $secret = index $existing.data $key | b64dec }}
{{- end }}
{{- $_ := set $jwt "_rendered" $secret }}
{{- end }}
{{- get $jwt "_rendered" }}
{{- end }}
{{- end }}

{{- define "tidings.scyllaSecretData" -}}
{{- if .Values.scylla.auth.enabled }}
{{ .Values.credentials.keys.scyllaUsername }}: {{ .Values.scylla.auth.username | toJson }}
{{ .Values.credentials.keys.scyllaPassword }}: {{ .Values.scylla.auth.password | toJson }}
{{- end }}
{{- end }}

{{/*
The service token (grpc.service_token): credentials.serviceToken when set;
else the one the release's Secret already holds (kept on upgrade); else a new
random one (first install). Generated once per render: the Secret and the
pods' checksum annotation see the same value.
*/}}
{{- define "tidings.serviceToken" -}}
{{- $credentials := .Values.credentials }}
{{- if $credentials.serviceToken }}
{{- $credentials.serviceToken }}
{{- else }}
{{- if not (hasKey $credentials "_renderedServiceToken") }}
{{- $token := randAlphaNum 48 }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "tidings.fullname" .) }}
{{- $key := $credentials.keys.serviceToken }}
{{- if and $existing $existing.data (hasKey $existing.data $key) }}
{{- $token = index $existing.data $key | b64dec }}
{{- end }}
{{- $_ := set $credentials "_renderedServiceToken" $token }}
{{- end }}
{{- get $credentials "_renderedServiceToken" }}
{{- end }}
{{- end }}
