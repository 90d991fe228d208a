{{/*
The chart's name (nameOverride replaces it).
*/}}
{{- define "cloud-edge-scheduler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: "<release>-<chart>", or the release name alone when it already
contains the chart's name. Truncated to 32 characters so that the longest suffix
("-kube-scheduler-leader-election") still fits the 63 characters of a DNS label.
*/}}
{{- define "cloud-edge-scheduler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 32 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 32 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 32 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "cloud-edge-scheduler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object; pass a dict with "ctx" (the root context) and "component".
*/}}
{{- define "cloud-edge-scheduler.labels" -}}
helm.sh/chart: {{ include "cloud-edge-scheduler.chart" .ctx }}
{{ include "cloud-edge-scheduler.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: cloud-edge-scheduler
{{- end }}

{{/*
Selector labels; pass a dict with "ctx" and "component" (operator or kube-scheduler).
*/}}
{{- define "cloud-edge-scheduler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloud-edge-scheduler.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The operator's ServiceAccount.
*/}}
{{- define "cloud-edge-scheduler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cloud-edge-scheduler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- /* Never fall back to "default": the bindings would give every pod of the namespace the
scheduler's permissions. */}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator's Lease (leader election), in the release namespace.
*/}}
{{- define "cloud-edge-scheduler.leaseName" -}}
{{- include "cloud-edge-scheduler.fullname" . }}
{{- end }}

{{/*
Names of the second kube-scheduler (mode extender or both): its Deployment, ServiceAccount and
Lease share it.
*/}}
{{- define "cloud-edge-scheduler.kubeSchedulerName" -}}
{{- printf "%s-kube-scheduler" (include "cloud-edge-scheduler.fullname" .) }}
{{- end }}

{{/*
"true" when the extender API is served and the second kube-scheduler is deployed.
*/}}
{{- define "cloud-edge-scheduler.extenderEnabled" -}}
{{- if has .Values.mode (list "extender" "both") }}true{{ end }}
{{- end }}

{{/*
The restricted Pod Security Standard, shared by both Deployments.
*/}}
{{- define "cloud-edge-scheduler.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cloud-edge-scheduler.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
