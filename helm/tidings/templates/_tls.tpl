{{/*
TLS between services (grpc.tls), TLS of the server API (serverApi.tls), the
gateway's JWKS file (gateway.auth.jwt.jwksFile) and the gateway's limits
(gateway.limits): where their files are mounted, their tidings.toml
sections, the probes that work over TLS, and the checks the schema cannot
express. Every Secret and ConfigMap here is yours (cert-manager's, for
certificates): the chart mounts them whole-volume (no subPath), so that the
kubelet swaps renewed files in and the binaries reload them.
*/}}

{{/* Where every service pod mounts grpc.tls.secretName. */}}
{{- define "tidings.grpcTlsDir" -}}
/etc/tidings-grpc-tls
{{- end }}

{{/* Where the logic pods mount serverApi.tls.secretName. */}}
{{- define "tidings.serverApiTlsDir" -}}
/etc/tidings-server-api-tls
{{- end }}

{{/* Where the logic pods mount serverApi.tls.clientCaSecretName. */}}
{{- define "tidings.serverApiClientCaDir" -}}
/etc/tidings-server-api-client-ca
{{- end }}

{{/* Where the gateway pods mount gateway.auth.jwt.jwksFile. */}}
{{- define "tidings.jwksDir" -}}
/etc/tidings-jwks
{{- end }}

{{/* "true" when the gateway reads its JWT keys from a mounted JWKS file. */}}
{{- define "tidings.jwksFileEnabled" -}}
{{- $file := .Values.gateway.auth.jwt.jwksFile }}
{{- if or $file.secretName $file.configMapName }}true{{ end }}
{{- end }}

{{/* [grpc.tls] of tidings.toml, when grpc.tls.enabled. */}}
{{- define "tidings.grpcTlsToml" -}}
{{- $tls := .Values.grpc.tls }}
{{- if $tls.enabled }}
{{- $dir := include "tidings.grpcTlsDir" . }}

[grpc.tls]
# From the Secret grpc.tls.secretName (tls.crt, tls.key, ca.crt), mounted
# into every service pod. Every internal gRPC port speaks only TLS.
cert_file = {{ printf "%s/tls.crt" $dir | toJson }}
key_file = {{ printf "%s/tls.key" $dir | toJson }}
ca_file = {{ printf "%s/ca.crt" $dir | toJson }}
client_auth = {{ toJson $tls.clientAuth }}
server_name = {{ toJson $tls.serverName }}
reload_check_ms = {{ int64 $tls.reloadCheckMs }}
{{- end }}
{{- end }}

{{/* [server_api.tls] of tidings.toml, when serverApi.tls.secretName is set. */}}
{{- define "tidings.serverApiTlsToml" -}}
{{- $tls := .Values.serverApi.tls }}
{{- if $tls.secretName }}
{{- $dir := include "tidings.serverApiTlsDir" . }}

[server_api.tls]
# From the Secret serverApi.tls.secretName, mounted into the logic pods.
cert_file = {{ printf "%s/tls.crt" $dir | toJson }}
key_file = {{ printf "%s/tls.key" $dir | toJson }}
{{- if $tls.clientCaSecretName }}
# serverApi.tls.clientCaSecretName: callers also need a client certificate.
client_ca_file = {{ printf "%s/ca.crt" (include "tidings.serverApiClientCaDir" .) | toJson }}
{{- end }}
reload_check_ms = {{ int64 $tls.reloadCheckMs }}
{{- end }}
{{- end }}

{{/* [gateway.limits] of tidings.toml: gateway.limits, keys in snake case. */}}
{{- define "tidings.gatewayLimitsToml" -}}
{{- $limits := .Values.gateway.limits }}

[gateway.limits]
# gateway.limits: token buckets per connection and per user (per gateway);
# 0 turns a limit off.
{{- range $name := list "connectionSendsPerSec" "connectionSendBurst" "userSendsPerSec" "userSendBurst" "connectionReadsPerSec" "connectionReadBurst" "userReadsPerSec" "userReadBurst" "connectionsPerUser" }}
{{ snakecase $name }} = {{ int64 (get $limits $name) }}
{{- end }}
{{- end }}

{{/*
A probe of a service's internal gRPC port. Kubernetes' own gRPC probes speak
plain text only, so with grpc.tls.enabled the probe runs `tidings health`
in the container instead: a gRPC health check over TLS, verifying the
certificate against grpc.tls.serverName and presenting the pod's own
certificate under mutual TLS, as the services call each other. Arguments
(dict): root, port, timings (a probes.* value).
*/}}
{{- define "tidings.grpcProbe" -}}
{{- if .root.Values.grpc.tls.enabled }}
exec:
  command:
    - tidings
    - health
    - --config
    - /etc/tidings/tidings.toml
    - --timeout-ms
    - {{ mul (int64 .timings.timeoutSeconds) 1000 | toString | quote }}
    - {{ printf "127.0.0.1:%d" (int .port) | quote }}
{{- else }}
grpc:
  port: {{ int .port }}
{{- end }}
{{ include "tidings.probeTimings" .timings }}
{{- end }}

{{/*
Checks across the values of this file that the JSON schema cannot express,
with messages that say what to set. Called from tidings.validate.
*/}}
{{- define "tidings.securityValidate" -}}
{{- $v := .Values }}
{{- $grpc := $v.grpc.tls }}
{{- if $grpc.enabled }}
{{- if not $grpc.secretName }}
{{- fail "grpc.tls.enabled needs grpc.tls.secretName: a kubernetes.io/tls Secret holding tls.crt, tls.key and ca.crt (as a cert-manager Certificate with a CA issuer writes it), mounted into every service pod" }}
{{- end }}
{{- if not $grpc.serverName }}
{{- fail "grpc.tls.enabled needs grpc.tls.serverName: gateways and sequence instances are called at pod IPs and the probes at 127.0.0.1, which no certificate names, so every caller checks this one name instead; put it in the Certificate's dnsNames" }}
{{- end }}
{{- else }}
{{- if eq $grpc.clientAuth "required" }}
{{- fail "grpc.tls.clientAuth=required needs grpc.tls.enabled=true and grpc.tls.secretName: callers' certificates are checked against the ca.crt of that Secret, and without TLS there is no CA and no handshake" }}
{{- end }}
{{- if or $grpc.secretName $grpc.serverName }}
{{- fail "grpc.tls.secretName and grpc.tls.serverName are used only with grpc.tls.enabled=true: set it, or clear them" }}
{{- end }}
{{- end }}
{{- $api := $v.serverApi.tls }}
{{- if and $api.clientCaSecretName (not $api.secretName) }}
{{- fail "serverApi.tls.clientCaSecretName needs serverApi.tls.secretName: client certificates are asked for in a TLS handshake, and without a server certificate the API speaks plain text" }}
{{- end }}
{{- if and $api.secretName (not $v.serverApi.enabled) }}
{{- fail "serverApi.tls.secretName needs serverApi.enabled=true: with it off the server API listens on the logic pods' loopback only" }}
{{- end }}
{{- $jwt := $v.gateway.auth.jwt }}
{{- if and $jwt.jwksFile.secretName $jwt.jwksFile.configMapName }}
{{- fail "gateway.auth.jwt.jwksFile.secretName and gateway.auth.jwt.jwksFile.configMapName are both set: the JWKS file comes from one of them" }}
{{- end }}
{{- if and (include "tidings.jwksFileEnabled" .) $jwt.jwksUrl }}
{{- fail "gateway.auth.jwt.jwksFile and gateway.auth.jwt.jwksUrl are both set: the gateway reads its JWKS from one of them (gateway.auth.jwt.hsSecret may be set with either)" }}
{{- end }}
{{- $limits := $v.gateway.limits }}
{{- range $pair := list (list "connectionSendsPerSec" "connectionSendBurst") (list "userSendsPerSec" "userSendBurst") (list "connectionReadsPerSec" "connectionReadBurst") (list "userReadsPerSec" "userReadBurst") }}
{{- $rate := index $pair 0 }}
{{- $burst := index $pair 1 }}
{{- if and (gt (int64 (get $limits $rate)) 0) (eq (int64 (get $limits $burst)) 0) }}
{{- fail (printf "gateway.limits.%s must be at least 1 when gateway.limits.%s is set (%d): a bucket holds at least one request; set both to 0 to turn the limit off" $burst $rate (int64 (get $limits $rate))) }}
{{- end }}
{{- end }}
{{- end }}
