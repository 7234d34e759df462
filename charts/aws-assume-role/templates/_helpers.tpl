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
