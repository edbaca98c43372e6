{{/* Names, labels and the derived lists used by every template. */}}

{{- define "credbroker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "credbroker.fullname" -}}
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

{{/* The namespace of every namespaced object: namespaceOverride, else the release namespace. */}}
{{- define "credbroker.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Cluster-scoped objects carry the release namespace: two releases of the same name must not collide. */}}
{{- define "credbroker.clusterName" -}}
{{- printf "%s-%s" (include "credbroker.namespace" .) (include "credbroker.fullname" .) | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "credbroker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "credbroker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "credbroker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "credbroker.labels" -}}
helm.sh/chart: {{ include "credbroker.chart" . }}
{{ include "credbroker.podLabels" . }}
{{- end }}

{{/* Pod template labels: no chart version, so a chart bump that changes nothing else does not roll the pods. */}}
{{- define "credbroker.podLabels" -}}
{{ include "credbroker.selectorLabels" . }}
app.kubernetes.io/version: {{ include "credbroker.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: credbroker
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "credbroker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "credbroker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "credbroker.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "credbroker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "credbroker.imageTag" .) }}
{{- end }}
{{- end }}

{{/* The namespaces whose Secrets may be read, as a comma list: secretNamespaces, else the release namespace. */}}
{{- define "credbroker.secretNamespaces" -}}
{{- if .Values.secretNamespaces }}
{{- .Values.secretNamespaces | uniq | join "," }}
{{- else }}
{{- include "credbroker.namespace" . }}
{{- end }}
{{- end }}

{{- define "credbroker.applicationNamespaces" -}}
{{- if .Values.applicationNamespaces }}
{{- .Values.applicationNamespaces | uniq | join "," }}
{{- else }}
{{- include "credbroker.namespace" . }}
{{- end }}
{{- end }}

{{- define "credbroker.policy" -}}
{{- if hasKey .Values.auth.policy "rules" }}
{{- toYaml .Values.auth.policy }}
{{- else }}
{{- /* callers are system:serviceaccount:<ns>:<name> (kubernetes), static:<name> (static) or anonymous (none) */}}
{{- $subject := printf "system:serviceaccount:%s:*" (include "credbroker.namespace" .) }}
{{- if eq .Values.auth.mode "static" }}{{ $subject = "static:*" }}{{ end }}
{{- if eq .Values.auth.mode "none" }}{{ $subject = "*" }}{{ end }}
rules:
  - subjects:
      - {{ $subject | quote }}
    actions: [resolve, explain, test, validate, registries, status]
    applications:
      - {{ printf "%s/*" (include "credbroker.namespace" .) | quote }}
{{- end }}
{{- end }}

{{- define "credbroker.registriesConf" -}}
{{- toYaml (dict "registries" .Values.registries) }}
{{- end }}

{{- define "credbroker.authScriptsName" -}}
{{- default (printf "%s-authscripts" (include "credbroker.fullname" .)) .Values.authScripts.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ServiceAccount annotations for the pod's cloud identity (ecr:, gcp:, acr: references);
serviceAccount.annotations win over these.
*/}}
{{- define "credbroker.cloudIdentityAnnotations" -}}
{{- with .Values.cloudIdentity }}
{{- if .aws.roleArn }}
eks.amazonaws.com/role-arn: {{ .aws.roleArn | quote }}
{{- end }}
{{- if .gcp.serviceAccount }}
iam.gke.io/gcp-service-account: {{ .gcp.serviceAccount | quote }}
{{- end }}
{{- if .azure.clientId }}
azure.workload.identity/client-id: {{ .azure.clientId | quote }}
{{- end }}
{{- if .azure.tenantId }}
azure.workload.identity/tenant-id: {{ .azure.tenantId | quote }}
{{- end }}
{{- end }}
{{- end }}
