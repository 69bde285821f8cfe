{{/* The chart name, as in object names. */}}
{{- define "firedrill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects; CronJob names add a drill name after it. */}}
{{- define "firedrill.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "firedrill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firedrill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "firedrill.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "firedrill.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "firedrill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "firedrill.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "firedrill.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding the serve token. */}}
{{- define "firedrill.tokenSecret" -}}
{{- default (printf "%s-token" (include "firedrill.fullname" .)) .Values.serve.token.existingSecret }}
{{- end }}

{{/* The ConfigMap holding the experiment and suite files. */}}
{{- define "firedrill.experimentsConfigMap" -}}
{{- default (printf "%s-experiments" (include "firedrill.fullname" .)) .Values.existingExperimentsConfigMap }}
{{- end }}

{{/*
The PodSecurity "restricted" profile: pod level. fsGroup makes the history volume writable
by the non-root user.
*/}}
{{- define "firedrill.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
fsGroup: {{ .Values.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The PodSecurity "restricted" profile: container level. */}}
{{- define "firedrill.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Scheduling and metadata shared by every runner pod. */}}
{{- define "firedrill.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The rule entries of files/rbac-rules.yaml that the values enable, as a JSON list: the
workloads entry, the fault, probe and signal types, and with nodeFaults the node faults.
*/}}
{{- define "firedrill.rbacEntries" -}}
{{- $data := .Files.Get "files/rbac-rules.yaml" | fromYaml }}
{{- $entries := list $data.workloads $data.restoreRecords }}
{{- range .Values.rbac.faultTypes }}
{{- $e := index $data.faults . }}
{{- if not $e }}{{ fail (printf "rbac.faultTypes: %s has no rules in files/rbac-rules.yaml" .) }}{{ end }}
{{- $entries = append $entries $e }}
{{- end }}
{{- if .Values.rbac.nodeFaults }}
{{- $entries = append $entries (index $data.faults "node-cordon") }}
{{- $entries = append $entries (index $data.faults "node-drain") }}
{{- end }}
{{- range .Values.rbac.probeTypes }}
{{- $e := index $data.probes . }}
{{- if not $e }}{{ fail (printf "rbac.probeTypes: %s has no rules in files/rbac-rules.yaml" .) }}{{ end }}
{{- $entries = append $entries $e }}
{{- end }}
{{- range .Values.rbac.signalTypes }}
{{- $e := index $data.signals . }}
{{- if not $e }}{{ fail (printf "rbac.signalTypes: %s has no rules in files/rbac-rules.yaml" .) }}{{ end }}
{{- $entries = append $entries $e }}
{{- end }}
{{- toJson $entries }}
{{- end }}

{{/*
Rules of one scope (target, peers or cluster) of the enabled entries, merged into one rule
per API group and resource. Called with (dict "root" $ "scope" "target").
*/}}
{{- define "firedrill.rules" -}}
{{- $entries := include "firedrill.rbacEntries" .root | fromJsonArray }}
{{- $acc := dict }}
{{- range $entries }}
{{- range (get . $.scope | default list) }}
{{- $key := printf "%s|%s" .apiGroup .resource }}
{{- $_ := set $acc $key (concat (get $acc $key | default list) .verbs | uniq | sortAlpha) }}
{{- end }}
{{- end }}
{{- range $key := keys $acc | sortAlpha }}
{{- $parts := splitList "|" $key }}
- apiGroups: [{{ index $parts 0 | quote }}]
  resources: [{{ index $parts 1 | quote }}]
  verbs: {{ get $acc $key | toJson }}
{{- end }}
{{- end }}

{{/* The drills' file path as the schedules file (in its own folder) reaches it. */}}
{{- define "firedrill.drillFile" -}}
{{- if .experiment }}{{ printf "../experiments/%s" .experiment }}{{ else }}{{ printf "../experiments/%s" .suite }}{{ end }}
{{- end }}

{{/* The runner's own pod, from the downward API: a restore record names it, so that the
janitor can tell whether its run still goes on. */}}
{{- define "firedrill.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
