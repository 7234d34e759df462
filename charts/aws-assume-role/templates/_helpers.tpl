{{/*
Names and labels shared by the templates. Cluster-scoped objects take the full name, which includes the release
name, so two releases never write the same ClusterRole or ClusterRoleBinding.
*/}}

{{- define "aws-assume-role.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-specific name: the release name alone when it already contains the chart name. */}}
{{- define "aws-assume-role.fullname" -}}
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

{{/*
Name of cluster-scoped objects. Helm allows one release name in several namespaces, so the namespace is part of it,
except in the usual install (release aws-assume-role in namespace aws-assume-role).
*/}}
{{- define "aws-assume-role.clusterScopedName" -}}
{{- $fullname := include "aws-assume-role.fullname" . }}
{{- if eq .Release.Namespace $fullname }}
{{- $fullname }}
{{- else }}
{{- printf "%s-%s" .Release.Namespace $fullname | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "aws-assume-role.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aws-assume-role.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aws-assume-role.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The chart's labels and `commonLabels`; the chart's own win over a common label of the same key. */}}
{{- define "aws-assume-role.labels" -}}
{{- $labels := include "aws-assume-role.selectorLabels" . | fromYaml }}
{{- $_ := set $labels "helm.sh/chart" (include "aws-assume-role.chart" .) }}
{{- $_ := set $labels "app.kubernetes.io/version" .Chart.AppVersion }}
{{- $_ := set $labels "app.kubernetes.io/managed-by" .Release.Service }}
{{- $_ := set $labels "app.kubernetes.io/part-of" "aws-assume-role-operator" }}
{{- toYaml (merge $labels (.Values.commonLabels | default dict)) }}
{{- end }}

{{- define "aws-assume-role.serviceAccountName" -}}
{{- required "serviceAccount.name must be set" .Values.serviceAccount.name }}
{{- end }}

{{- define "aws-assume-role.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Name of the leader-election Lease: one per release. */}}
{{- define "aws-assume-role.leaseName" -}}
{{- include "aws-assume-role.fullname" . }}
{{- end }}

{{/* Non-empty when the cluster serves the Prometheus Operator's ServiceMonitor (helm template: --api-versions). */}}
{{- define "aws-assume-role.serviceMonitorServed" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor" }}true{{ end }}
{{- end }}

{{/*
Pod Identity (docs/pod-identity.md): the names the operator's POD_IDENTITY_* variables, the Service, the webhook and
the agent share. One release per cluster runs it: the agent holds port 80 of the link-local address on every node.
*/}}
{{- define "aws-assume-role.podIdentity.service" -}}
{{- printf "%s-pod-identity" (include "aws-assume-role.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aws-assume-role.podIdentity.webhook" -}}
{{- include "aws-assume-role.clusterScopedName" . }}
{{- end }}

{{- define "aws-assume-role.podIdentity.tlsSecret" -}}
{{- printf "%s-pod-identity-tls" (include "aws-assume-role.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* cert-manager's Secret (podIdentity.certManager): not the operator's own TLS Secret, so no two writers share one. */}}
{{- define "aws-assume-role.podIdentity.certificateSecret" -}}
{{- printf "%s-pod-identity-cert" (include "aws-assume-role.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aws-assume-role.podIdentity.certificate" -}}
{{- include "aws-assume-role.podIdentity.service" . }}
{{- end }}

{{- define "aws-assume-role.podIdentity.caConfigMap" -}}
aws-pod-identity-ca
{{- end }}

{{- define "aws-assume-role.podIdentity.agentName" -}}
aws-pod-identity-agent
{{- end }}

{{/* The agent's `namespace/serviceaccount` (POD_IDENTITY_AGENT): whose token the authority trusts. */}}
{{- define "aws-assume-role.podIdentity.agent" -}}
{{- printf "%s/%s" .Values.podIdentity.agent.namespace (include "aws-assume-role.podIdentity.agentName" .) }}
{{- end }}

{{/* The authority as the agent names it; the certificate is checked against this host name. */}}
{{- define "aws-assume-role.podIdentity.authorityUrl" -}}
{{- printf "https://%s.%s.svc:%v" (include "aws-assume-role.podIdentity.service" .) .Release.Namespace .Values.podIdentity.port }}
{{- end }}

{{/* The agent's addresses as AGENT_LISTEN takes them: a comma-separated list of host:port. */}}
{{- define "aws-assume-role.podIdentity.listen" -}}
{{- $agent := .Values.podIdentity.agent }}
{{- $listen := list (printf "%s:%v" $agent.address $agent.port) }}
{{- with $agent.ipv6Address }}
{{- $listen = append $listen (printf "[%s]:%v" . $agent.port) }}
{{- end }}
{{- join "," $listen }}
{{- end }}

{{/* The agent's selector: a name of its own, so no selector of the operator's (Service, PDB) ever matches it. */}}
{{- define "aws-assume-role.podIdentity.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "aws-assume-role.podIdentity.agentName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aws-assume-role.podIdentity.agentLabels" -}}
{{- $labels := include "aws-assume-role.labels" . | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/name" (include "aws-assume-role.podIdentity.agentName" .) }}
{{- $_ := set $labels "app.kubernetes.io/component" "pod-identity-agent" }}
{{- toYaml $labels }}
{{- end }}

{{/* Non-empty when the cluster serves cert-manager's Certificate (helm template: --api-versions). */}}
{{- define "aws-assume-role.certManagerServed" -}}
{{- if .Capabilities.APIVersions.Has "cert-manager.io/v1/Certificate" }}true{{ end }}
{{- end }}

{{- define "aws-assume-role.prometheusRuleServed" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PrometheusRule" }}true{{ end }}
{{- end }}

{{/*
The label matchers that scope the PrometheusRule's expressions to this operator's targets (prometheusRule.selector;
default: the job the chart's ServiceMonitor gives them).
*/}}
{{- define "aws-assume-role.ruleSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=\"%s-metrics\"" (include "aws-assume-role.fullname" .)) }}
{{- end }}
