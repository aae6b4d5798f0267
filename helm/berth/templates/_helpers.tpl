{{/* The release's full name: the release name, with "-berth" appended unless it contains "berth". */}}
{{- define "berth.fullname" -}}
{{- if contains "berth" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-berth" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: berth
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.labels" -}}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: controller
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Fails the render for a cloud berth does not implement yet (the schema lists all three). */}}
{{- define "berth.checkCloud" -}}
{{- if not (has .Values.cloud (list "aws" "gcp")) -}}
{{- fail (printf "cloud=%s is not implemented yet: berth %s provisions AWS and GCP load balancers (set cloud: aws or gcp)" .Values.cloud .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}
