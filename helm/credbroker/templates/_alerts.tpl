{{/*
The alert rule groups of the PrometheusRule. Every expression reads only metrics the service
exposes (the chart tests compare them with a live scrape and run promtool on them).
*/}}
{{- define "credbroker.alertGroups" -}}
{{- $r := .Values.prometheusRule }}
{{- $sel := $r.selector | default (printf "job=\"%s\",namespace=\"%s\"" (include "credbroker.fullname" .) (include "credbroker.namespace" .)) }}
{{- $fetchErrors := "SECRET_NOT_FOUND|SECRET_FIELD_MISSING|MALFORMED_CREDENTIALS|NO_MATCHING_AUTH_ENTRY|ENV_NOT_SET|SCRIPT_FAILED|SCRIPT_TIMEOUT|KUBERNETES_FORBIDDEN|KUBERNETES_UNAVAILABLE|ARGOCD_UNAVAILABLE|CLOUD_IDENTITY_MISSING|CLOUD_ACCESS_DENIED|CLOUD_PROVIDER_UNAVAILABLE" }}
{{- $alerts := list }}
{{- $alerts = append $alerts (dict
  "alert" "CredbrokerSecretStoreDisconnected"
  "expr" (printf "max by (namespace, pod) (credbroker_secret_store_disconnected_namespaces{%s}) > 0" $sel)
  "for" "5m" "severity" "warning"
  "summary" "credbroker lost its Kubernetes watch of Secrets in {{ $value }} namespace(s)"
  "description" "Pod {{ $labels.pod }} serves the Secrets it last synced; changes made since are not seen, and after CACHE_MAX_STALE requests fail with KUBERNETES_UNAVAILABLE. Check /readyz and the Kubernetes API.") }}
{{- $alerts = append $alerts (dict
  "alert" "CredbrokerSecretStoreNotSynced"
  "expr" (printf "min by (namespace, pod) (credbroker_secret_store_synced{%s}) == 0" $sel)
  "for" "10m" "severity" "critical"
  "summary" "credbroker has not synced its secret store"
  "description" "Pod {{ $labels.pod }} could not list the Secrets of every namespace in SECRET_NAMESPACES and is not ready. Check its RBAC (Roles per namespace) and the Kubernetes API.") }}
{{- $alerts = append $alerts (dict
  "alert" "CredbrokerConfigReloadFailing"
  "expr" (printf "min by (namespace, pod, file) (credbroker_config_last_reload_successful{%s}) == 0" $sel)
  "for" "5m" "severity" "warning"
  "summary" "credbroker keeps an old {{ $labels.file }} file: the last reload failed"
  "description" "Pod {{ $labels.pod }} rejected the current {{ $labels.file }} file and serves the last good one. The pod log names the error (config reload failed).") }}
{{- $alerts = append $alerts (dict
  "alert" "CredbrokerCredentialFetchErrors"
  "expr" (printf "sum by (namespace) (rate(credbroker_credential_requests_total{%s,outcome=~\"%s\"}[5m])) / sum by (namespace) (rate(credbroker_credential_requests_total{%s}[5m])) > %v" $sel $fetchErrors $sel $r.credentialErrorRatio)
  "for" "10m" "severity" "warning"
  "summary" "{{ $value | humanizePercentage }} of credential requests fail at their source"
  "description" "Credential requests end in a source error (missing Secret or field, failing ext: script, Kubernetes or Argo CD unavailable). The outcome label of credbroker_credential_requests_total names the error code.") }}
{{- $alerts = append $alerts (dict
  "alert" "CredbrokerScriptTimeouts"
  "expr" (printf "sum by (namespace, pod) (increase(credbroker_ext_script_runs_total{%s,outcome=\"timeout\"}[10m])) > 0" $sel)
  "for" "0m" "severity" "warning"
  "summary" "ext: credential scripts time out"
  "description" "{{ $value }} ext: script run(s) on pod {{ $labels.pod }} did not finish within EXT_TIMEOUT in the last 10 minutes; callers get SCRIPT_TIMEOUT.") }}
{{- $alerts = append $alerts (dict
  "alert" "CredbrokerDenialsSpike"
  "expr" (printf "sum by (namespace) (rate(credbroker_auth_decisions_total{%s,result=~\"denied|unauthenticated|rate_limited\"}[5m])) > %v" $sel $r.denialsPerSecond)
  "for" "10m" "severity" "warning"
  "summary" "credbroker refuses {{ $value | humanize }} requests/s"
  "description" "Callers are denied by the policy, fail authentication or are rate-limited. The audit log names caller, action and target of every denial.") }}
- name: credbroker
  rules:
    {{- range $alerts }}
    {{- if not (has .alert $r.disabledAlerts) }}
    - alert: {{ .alert }}
      expr: {{ .expr | quote }}
      {{- if ne .for "0m" }}
      for: {{ .for }}
      {{- end }}
      labels:
        severity: {{ .severity }}
        {{- with $r.additionalRuleLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        summary: {{ .summary | quote }}
        description: {{ .description | quote }}
    {{- end }}
    {{- end }}
{{- end }}
