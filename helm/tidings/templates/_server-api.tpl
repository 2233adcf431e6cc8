{{/*
The public server API (serverApi, docs/server-api.md): served by the logic
pods on 7407, gRPC and JSON over HTTP on one port. Its keys are a TOML file
(`keys = [{ name, sha256, scopes }]`) in a Secret mounted into the logic
pods and named by server_api.keys_file: the chart's (from serverApi.keys) or
yours (serverApi.existingSecret).
*/}}

{{/* Where the logic pods find the keys file. */}}
{{- define "tidings.serverApiKeysDir" -}}
/etc/tidings-server-api
{{- end }}

{{/* server_api.keys_file, or empty when no keys are configured (every call is then refused). */}}
{{- define "tidings.serverApiKeysFile" -}}
{{- $api := .Values.serverApi }}
{{- if and $api.enabled (or $api.keys $api.existingSecret) }}
{{- printf "%s/keys.toml" (include "tidings.serverApiKeysDir" .) }}
{{- end }}
{{- end }}

{{/* The Secret holding the keys file: yours, or the chart's. */}}
{{- define "tidings.serverApiSecretName" -}}
{{- default (include "tidings.componentName" (dict "root" . "component" "server-api-keys")) .Values.serverApi.existingSecret }}
{{- end }}

{{/* The key of that Secret holding the file. */}}
{{- define "tidings.serverApiSecretKey" -}}
{{- if .Values.serverApi.existingSecret }}
{{- .Values.serverApi.existingSecretKey }}
{{- else -}}
keys.toml
{{- end }}
{{- end }}

{{/* The keys file rendered from serverApi.keys (strings as JSON strings: valid TOML). */}}
{{- define "tidings.serverApiKeysToml" -}}
# Server API keys rendered by the tidings Helm chart from serverApi.keys:
# SHA-256 hashes only (`tidings hash-api-key <key>` prints one).
keys = [
{{- range .Values.serverApi.keys }}
  { name = {{ toJson .name }}, sha256 = {{ toJson .sha256 }}, scopes = {{ toJson .scopes }} },
{{- end }}
]
{{- end }}

{{/* Checks the schema cannot express; rendered from server-api.yaml. */}}
{{- define "tidings.serverApiValidate" -}}
{{- $api := .Values.serverApi }}
{{- if and $api.keys $api.existingSecret }}
{{- fail "serverApi.keys and serverApi.existingSecret both name a keys file: set one (the binaries read a single server_api.keys_file)" }}
{{- end }}
{{- $names := list }}
{{- range $api.keys }}
{{- if has .name $names }}
{{- fail (printf "serverApi.keys: two keys are named %q (names must be unique)" .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- end }}
{{- if lt (int64 $api.maxTokenTtlSecs) (int64 $api.tokenTtlSecs) }}
{{- fail (printf "serverApi.maxTokenTtlSecs (%d) must be at least serverApi.tokenTtlSecs (%d)" (int64 $api.maxTokenTtlSecs) (int64 $api.tokenTtlSecs)) }}
{{- end }}
{{- end }}
