{{/*
The Deployment of a stateless service (gateway, logic, store, sync).
Arguments (dict): root, component.
*/}}
{{- define "tidings.deployment" -}}
{{- $c := get .root.Values .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "tidings.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tidings.labels" . | nindent 4 }}
spec:
  {{- if not $c.autoscaling.enabled }}
  replicas: {{ int64 $c.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- toYaml $c.strategy | nindent 4 }}
  selector:
    matchLabels:
      {{- include "tidings.selectorLabels" . | nindent 6 }}
  template:
    {{- include "tidings.podTemplate" . | nindent 4 }}
{{- end }}

{{/*
The ClusterIP Service in front of a gRPC service (logic, store, sync).
Arguments (dict): root, component.
*/}}
{{- define "tidings.grpcService" -}}
{{- $c := get .root.Values .component }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "tidings.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tidings.labels" . | nindent 4 }}
  {{- with $c.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: ClusterIP
  selector:
    {{- include "tidings.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ include "tidings.grpcPort" .component }}
      targetPort: grpc
      protocol: TCP
{{- end }}
