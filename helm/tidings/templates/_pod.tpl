{{/*
Pod template of a Tidings service. Arguments (dict):
  root       the chart's top-level context
  component  gateway | logic | sequence | store | sync
*/}}
{{- define "tidings.podTemplate" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $c := get $root.Values $component }}
{{- $grpcPort := int (include "tidings.grpcPort" $component) }}
{{- /* The server API (serverApi) is served by the logic pods. */}}
{{- $serverApi := and (eq $component "logic") $root.Values.serverApi.enabled }}
{{- $serverApiKeys := and $serverApi (include "tidings.serverApiKeysFile" $root) -}}
{{- $gatewayTls := and (eq $component "gateway") $root.Values.gateway.tls.secretName -}}
{{- $grpcTls := $root.Values.grpc.tls.enabled -}}
{{- $jwksFile := and (eq $component "gateway") (include "tidings.jwksFileEnabled" $root) -}}
{{- $jwks := $root.Values.gateway.auth.jwt.jwksFile -}}
{{- $serverApiTls := and $serverApi $root.Values.serverApi.tls.secretName -}}
{{- $serverApiClientCa := and $serverApiTls $root.Values.serverApi.tls.clientCaSecretName -}}
metadata:
  labels:
    {{- include "tidings.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/part-of: tidings
    {{- with merge (deepCopy $c.podLabels) $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Roll the pods when the configuration or the chart's Secret changes.
    checksum/config: {{ include "tidings.configToml" $root | sha256sum }}
    {{- if not $root.Values.credentials.existingSecret }}
    checksum/secret: {{ include "tidings.secretData" $root | sha256sum }}
    {{- end }}
    {{- if and $serverApiKeys (not $root.Values.serverApi.existingSecret) }}
    checksum/server-api-keys: {{ include "tidings.serverApiKeysToml" $root | sha256sum }}
    {{- end }}
    {{- with merge (deepCopy $c.podAnnotations) $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "tidings.serviceAccountName" $root }}
  automountServiceAccountToken: false
  # Service links would add TIDINGS_* variables for every Service of the release.
  enableServiceLinks: false
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ int64 $c.terminationGracePeriodSeconds }}
  {{- with $c.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.topologySpreadConstraints }}
  {{- $constraints := list }}
  {{- range . }}
  {{- $constraint := deepCopy . }}
  {{- if not (hasKey $constraint "labelSelector") }}
  {{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "tidings.selectorLabels" (dict "root" $root "component" $component) | fromYaml)) }}
  {{- end }}
  {{- $constraints = append $constraints $constraint }}
  {{- end }}
  topologySpreadConstraints:
    {{- toYaml $constraints | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ $component }}
      image: {{ include "tidings.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["tidings-{{ $component }}"]
      args: ["--config", "/etc/tidings/tidings.toml"]
      ports:
        {{- if eq $component "gateway" }}
        - name: ws
          containerPort: 7400
          protocol: TCP
        {{- end }}
        - name: grpc
          containerPort: {{ $grpcPort }}
          protocol: TCP
        {{- if $serverApi }}
        # The public server API (gRPC and JSON over HTTP), listen.server_api.
        - name: server-api
          containerPort: 7407
          protocol: TCP
        {{- end }}
        {{- if $root.Values.metrics.enabled }}
        - name: metrics
          containerPort: {{ int $root.Values.metrics.port }}
          protocol: TCP
        {{- end }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        # Resource attributes of the exported spans (service.name is set by the
        # binary: tidings-<service>). After POD_NAME and POD_NAMESPACE: $(VAR)
        # only expands variables defined earlier in the list.
        - name: OTEL_RESOURCE_ATTRIBUTES
          value: "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)"
        {{- if eq $component "gateway" }}
        # Written into the registry: logic pushes to this pod at this address.
        - name: TIDINGS__ADVERTISE__GATEWAY_GRPC
          value: "$(POD_IP):7401"
        {{- end }}
        {{- if eq $component "sequence" }}
        # The StatefulSet pod name: stable across restarts, unique per replica.
        - name: TIDINGS__SEQUENCE__INSTANCE_ID
          value: "$(POD_NAME)"
        # Written into the section leases: callers follow it to the owner.
        - name: TIDINGS__ADVERTISE__SEQUENCE
          value: "$(POD_IP):7403"
        {{- end }}
        # The service credential: every internal gRPC call carries it and
        # every service requires it (gRPC health checks excepted).
        - name: TIDINGS__GRPC__SERVICE_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "tidings.secretName" $root }}
              key: {{ $root.Values.credentials.keys.serviceToken }}
        {{- if has $component (list "logic" "sequence" "store" "sync") }}
        {{- include "tidings.scyllaCredentialsEnv" (dict "root" $root "secret" (include "tidings.secretName" $root)) | trim | nindent 8 }}
        {{- end }}
        {{- if has $component (list "gateway" "logic") }}
        {{- include "tidings.redisEnv" $root | trim | nindent 8 }}
        {{- end }}
        {{- if and (or (eq $component "gateway") $serverApi) (include "tidings.jwtHsSecretInSecret" $root) }}
        # The HS secret client JWTs are signed with (logic: the server API's
        # MintClientToken signs with it).
        - name: TIDINGS__GATEWAY__AUTH__JWT__HS_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ include "tidings.secretName" $root }}
              key: {{ $root.Values.credentials.keys.jwtHsSecret }}
              {{- if $root.Values.credentials.existingSecret }}
              optional: true
              {{- end }}
        {{- end }}
        {{- with $root.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $c.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if eq $component "gateway" }}
      startupProbe:
        httpGet:
          path: /healthz
          port: ws
          {{- if $gatewayTls }}
          scheme: HTTPS
          {{- end }}
        {{- include "tidings.probeTimings" $c.probes.startup | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /healthz
          port: ws
          {{- if $gatewayTls }}
          scheme: HTTPS
          {{- end }}
        {{- include "tidings.probeTimings" $c.probes.readiness | nindent 8 }}
      {{- else }}
      # gRPC health of the service's port (with grpc.tls: `tidings health`
      # over TLS, as Kubernetes' gRPC probes speak plain text only).
      startupProbe:
        {{- include "tidings.grpcProbe" (dict "root" $root "port" $grpcPort "timings" $c.probes.startup) | trim | nindent 8 }}
      readinessProbe:
        {{- include "tidings.grpcProbe" (dict "root" $root "port" $grpcPort "timings" $c.probes.readiness) | trim | nindent 8 }}
      {{- end }}
      livenessProbe:
        {{- include "tidings.grpcProbe" (dict "root" $root "port" $grpcPort "timings" $c.probes.liveness) | trim | nindent 8 }}
      lifecycle:
        preStop:
          # Keep serving while endpoints and load balancers drop this pod;
          # SIGTERM (and the service's drain) follows.
          exec:
            command: ["sleep", "{{ int64 $c.preStopSleepSeconds }}"]
      resources:
        {{- toYaml $c.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/tidings
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if $serverApiKeys }}
        - name: server-api-keys
          mountPath: {{ include "tidings.serverApiKeysDir" $root }}
          readOnly: true
        {{- end }}
        {{- if $gatewayTls }}
        # A whole-Secret mount (no subPath): the kubelet swaps renewed files
        # in, and the gateway reloads them.
        - name: gateway-tls
          mountPath: {{ include "tidings.gatewayTlsDir" $root }}
          readOnly: true
        {{- end }}
        {{- if $grpcTls }}
        - name: grpc-tls
          mountPath: {{ include "tidings.grpcTlsDir" $root }}
          readOnly: true
        {{- end }}
        {{- if $jwksFile }}
        - name: jwks
          mountPath: {{ include "tidings.jwksDir" $root }}
          readOnly: true
        {{- end }}
        {{- if $serverApiTls }}
        - name: server-api-tls
          mountPath: {{ include "tidings.serverApiTlsDir" $root }}
          readOnly: true
        {{- end }}
        {{- if $serverApiClientCa }}
        - name: server-api-client-ca
          mountPath: {{ include "tidings.serverApiClientCaDir" $root }}
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "tidings.fullname" $root }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if $serverApiKeys }}
    # The server API keys file (server_api.keys_file).
    - name: server-api-keys
      secret:
        secretName: {{ include "tidings.serverApiSecretName" $root }}
        items:
          - key: {{ include "tidings.serverApiSecretKey" $root }}
            path: keys.toml
    {{- end }}
    {{- if $gatewayTls }}
    # The WebSocket port's certificate and key (gateway.tls.secretName).
    - name: gateway-tls
      secret:
        secretName: {{ $root.Values.gateway.tls.secretName }}
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- end }}
    {{- if $grpcTls }}
    # This service's certificate, key and the CA of every service's
    # (grpc.tls.secretName), for TLS between services both ways.
    - name: grpc-tls
      secret:
        secretName: {{ $root.Values.grpc.tls.secretName }}
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
          - key: ca.crt
            path: ca.crt
    {{- end }}
    {{- if $jwksFile }}
    # The public keys client JWTs are checked with (gateway.auth.jwt.jwksFile).
    - name: jwks
      {{- if $jwks.secretName }}
      secret:
        secretName: {{ $jwks.secretName }}
      {{- else }}
      configMap:
        name: {{ $jwks.configMapName }}
      {{- end }}
        items:
          - key: {{ $jwks.key }}
            path: jwks.json
    {{- end }}
    {{- if $serverApiTls }}
    # The server API's certificate and key (serverApi.tls.secretName).
    - name: server-api-tls
      secret:
        secretName: {{ $root.Values.serverApi.tls.secretName }}
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- end }}
    {{- if $serverApiClientCa }}
    # The CA(s) callers' client certificates must be signed by
    # (serverApi.tls.clientCaSecretName), read when logic starts.
    - name: server-api-client-ca
      secret:
        secretName: {{ $root.Values.serverApi.tls.clientCaSecretName }}
        items:
          - key: {{ $root.Values.serverApi.tls.clientCaKey }}
            path: ca.crt
    {{- end }}
{{- end }}

{{/* Where the gateway pods mount gateway.tls.secretName. */}}
{{- define "tidings.gatewayTlsDir" -}}
/etc/tidings-gateway-tls
{{- end }}

{{- define "tidings.probeTimings" -}}
periodSeconds: {{ int64 .periodSeconds }}
timeoutSeconds: {{ int64 .timeoutSeconds }}
failureThreshold: {{ int64 .failureThreshold }}
{{- end }}

{{/*
ScyllaDB credentials from a Secret, when password authentication is on.
Arguments (dict): root, secret (the Secret's name).
*/}}
{{- define "tidings.scyllaCredentialsEnv" -}}
{{- if .root.Values.scylla.auth.enabled }}
- name: TIDINGS__SCYLLA__USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.credentials.keys.scyllaUsername }}
- name: TIDINGS__SCYLLA__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.credentials.keys.scyllaPassword }}
{{- end }}
{{- end }}

{{/* The Redis registry's address(es) from the Secret. */}}
{{- define "tidings.redisEnv" -}}
{{- if eq .Values.redis.mode "cluster" }}
- name: TIDINGS__REGISTRY__CLUSTER_URLS
  valueFrom:
    secretKeyRef:
      name: {{ include "tidings.secretName" . }}
      key: {{ .Values.credentials.keys.redisClusterUrls }}
{{- else }}
- name: TIDINGS__REGISTRY__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "tidings.secretName" . }}
      key: {{ .Values.credentials.keys.redisUrl }}
{{- end }}
{{- end }}
