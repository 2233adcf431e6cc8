{{/*
tidings.toml, shared by every service of the release and by the migration.
Strings are written with toJson: a JSON string is a valid TOML basic string.
*/}}
{{- define "tidings.configToml" -}}
# tidings.toml rendered by the tidings Helm chart; every key is described in
# docs/configuration.md. Per-pod and secret settings are not here: they come as
# TIDINGS__... environment variables (advertise.gateway_grpc,
# advertise.sequence, sequence.instance_id, scylla.username, scylla.password,
# registry.url, registry.cluster_urls, gateway.auth.jwt.hs_secret). Files
# from Secrets and ConfigMaps (certificates, keys files, a JWKS) are mounted
# under /etc/tidings-*.

# Unused with storage.backend = "scylla"; on the pod's scratch volume.
data_dir = "/tmp/tidings"

[listen]
gateway_ws = "0.0.0.0:7400"
gateway_grpc = "0.0.0.0:7401"
logic = "0.0.0.0:7402"
sequence = "0.0.0.0:7403"
store = "0.0.0.0:7404"
sync = "0.0.0.0:7405"
# Prometheus metrics (GET /metrics) of the pod's process (metrics.port).
metrics = {{ printf "0.0.0.0:%d" (int .Values.metrics.port) | toJson }}
{{- if .Values.serverApi.enabled }}
# The public server API (serverApi), served by the logic pods.
server_api = "0.0.0.0:7407"
{{- else }}
# serverApi.enabled=false: the logic pods' loopback only (unreachable).
server_api = "127.0.0.1:7407"
{{- end }}

[peers]
# One entry per sequence replica (sequence.replicas).
sequence = {{ include "tidings.sequencePeers" . }}
store = {{ include "tidings.peer" (dict "root" . "component" "store") | toJson }}
sync = {{ include "tidings.peer" (dict "root" . "component" "sync") | toJson }}
logic = {{ include "tidings.peer" (dict "root" . "component" "logic") | toJson }}
{{- include "tidings.grpcTlsToml" . }}

[storage]
backend = "scylla"

[scylla]
contact_points = {{ toJson .Values.scylla.contactPoints }}
keyspace = {{ toJson .Values.scylla.keyspace }}
replication = {{ include "tidings.scyllaReplication" . | toJson }}
{{- with .Values.scylla.localDc }}
local_dc = {{ toJson . }}
{{- end }}
consistency = {{ toJson .Values.scylla.consistency }}
serial_consistency = {{ toJson .Values.scylla.serialConsistency }}
page_size = {{ int64 .Values.scylla.pageSize }}
message_bucket_bits = {{ int64 .Values.scylla.messageBucketBits }}
inbox_bucket_bits = {{ int64 .Values.scylla.inboxBucketBits }}
request_timeout_ms = {{ int64 .Values.scylla.requestTimeoutMs }}
clock_skew_ms = {{ int64 .Values.scylla.clockSkewMs }}

[registry]
backend = "redis"
key_prefix = {{ toJson .Values.redis.keyPrefix }}

[telemetry]
# metrics.enabled: serve listen.metrics.
metrics = {{ .Values.metrics.enabled }}
# tracing.otlpEndpoint: OTLP/gRPC collector; empty: spans are not exported.
otlp_endpoint = {{ toJson .Values.tracing.otlpEndpoint }}
# tracing.sampleRatio: fraction of new traces sampled (parent-based).
sample_ratio = {{ include "tidings.tomlFloat" .Values.tracing.sampleRatio }}
{{- $auth := .Values.gateway.auth }}

[gateway.auth]
# gateway.auth.scheme: jwt, or dev (only with allowDevelopmentTokens).
scheme = {{ toJson $auth.scheme }}

[gateway.auth.jwt]
{{- if include "tidings.jwksFileEnabled" . }}
# From gateway.auth.jwt.jwksFile, mounted into the gateway pods; read again
# when it changes and when a token names an unknown key id.
jwks_file = {{ printf "%s/jwks.json" (include "tidings.jwksDir" .) | toJson }}
{{- else }}
jwks_url = {{ toJson $auth.jwt.jwksUrl }}
{{- end }}
audience = {{ toJson $auth.jwt.audience }}
issuer = {{ toJson $auth.jwt.issuer }}
leeway_secs = {{ int64 $auth.jwt.leewaySecs }}
{{- if .Values.gateway.tls.secretName }}

[gateway.tls]
# From the Secret gateway.tls.secretName, mounted into the gateway pods.
cert_file = {{ printf "%s/tls.crt" (include "tidings.gatewayTlsDir" .) | toJson }}
key_file = {{ printf "%s/tls.key" (include "tidings.gatewayTlsDir" .) | toJson }}
reload_check_ms = {{ int64 .Values.gateway.tls.reloadCheckMs }}
{{- end }}
{{- include "tidings.gatewayLimitsToml" . }}

[server_api]
{{- with include "tidings.serverApiKeysFile" . }}
# From the Secret mounted into the logic pods (serverApi.keys or
# serverApi.existingSecret).
keys_file = {{ toJson . }}
{{- else }}
# No keys (serverApi.keys, serverApi.existingSecret): every call is refused.
{{- end }}
token_ttl_secs = {{ int64 .Values.serverApi.tokenTtlSecs }}
max_token_ttl_secs = {{ int64 .Values.serverApi.maxTokenTtlSecs }}
{{- include "tidings.serverApiTlsToml" . }}
{{- range $section := list "log" "grpc" "sequence" "sync" "logic" "gateway" }}
{{- $settings := get $.Values.config $section }}
{{- if $settings }}

[{{ $section }}]
{{- range $key, $value := $settings }}
{{ $key }} = {{ include "tidings.tomlValue" $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* One TOML scalar: a string, a boolean or an integer. */}}
{{- define "tidings.tomlValue" -}}
{{- if kindIs "string" . }}
{{- toJson . }}
{{- else if kindIs "bool" . }}
{{- . }}
{{- else if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) }}
{{- int64 . }}
{{- else }}
{{- fail (printf "config values must be strings, booleans or integers, got %v" .) }}
{{- end }}
{{- end }}

{{/*
A number as a TOML float, exactly: Go's shortest representation (toJson),
with ".0" added when it has neither a fraction nor an exponent (1 -> 1.0).
tidings.tomlValue is not usable here: it writes integers.
*/}}
{{- define "tidings.tomlFloat" -}}
{{- $text := toJson (float64 .) }}
{{- if regexMatch "[.eE]" $text }}
{{- $text }}
{{- else }}
{{- printf "%s.0" $text }}
{{- end }}
{{- end }}
