{{- define "runyard.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "runyard.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "runyard.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "runyard.secretName" -}}
{{- .Values.existingSecret | default (include "runyard.fullname" .) -}}
{{- end -}}

{{- define "runyard.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* The environment every Runyard process shares. */}}
{{- define "runyard.env" -}}
- name: RUNYARD_ENV
  value: production
- name: RUNYARD_CLUSTER
  value: {{ .Release.Name | quote }}
- name: RUNYARD_STATE_DIR
  value: /var/lib/runyard
- name: RUNYARD_API_KEY
  valueFrom: {secretKeyRef: {name: {{ include "runyard.secretName" . }}, key: api-key}}
- name: RUNYARD_DATABASE__URL
  valueFrom: {secretKeyRef: {name: {{ include "runyard.secretName" . }}, key: database-url}}
- name: RUNYARD_REDIS__URL
  valueFrom: {secretKeyRef: {name: {{ include "runyard.secretName" . }}, key: redis-url}}
- name: RUNYARD_SECRETS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "runyard.secretName" . }}, key: secrets-key, optional: true}}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
