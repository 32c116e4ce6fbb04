{{/* The chart's name, and the release's full name (at most 63 characters). */}}
{{- define "incident-monitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "incident-monitor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object; the selector's labels of the monitor's pods. */}}
{{- define "incident-monitor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/part-of: {{ include "incident-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "incident-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "incident-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "incident-monitor.publishSelectorLabels" -}}
app.kubernetes.io/name: {{ include "incident-monitor.name" . }}-publish
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "incident-monitor.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "incident-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "incident-monitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A Secret's name: the one set, else <fullname>-<suffix>. */}}
{{- define "incident-monitor.secretName" -}}
{{- $root := index . 0 }}{{ $set := index . 1 }}{{ $suffix := index . 2 }}
{{- default (printf "%s-%s" (include "incident-monitor.fullname" $root) $suffix) $set }}
{{- end }}

{{/* The monitor's configuration: the values' text, else the chart's file. */}}
{{- define "incident-monitor.config" -}}
{{- if .Values.config }}{{ .Values.config }}{{ else }}{{ .Files.Get "files/incident-monitor.toml" }}{{ end }}
{{- end }}

{{/* The restricted Pod Security Standard's settings, pod and container. */}}
{{- define "incident-monitor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "incident-monitor.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* The SASL password's variable, from the Secret (optional). */}}
{{- define "incident-monitor.kafkaPasswordEnv" -}}
- name: INCIDENT_MONITOR_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "incident-monitor.secretName" (list . .Values.kafka.existingSecret "kafka") }}
      key: {{ .Values.kafka.passwordKey }}
      optional: {{ not .Values.kafka.saslPassword }}
{{- end }}
