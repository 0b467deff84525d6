{{/*
The chart's name, or nameOverride.
*/}}
{{- define "haul.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name, the prefix of every object's name: the release name,
followed by the chart's unless the release name contains it. Kept to 48
characters, so that suffixed names fit where Kubernetes allows 63: the
migration Job's name becomes its pods' job-name label.
*/}}
{{- define "haul.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "haul.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels of an object. Takes a dict: "root" (the top context) and
"component" (api, listener, migrate, controller, jobs).
*/}}
{{- define "haul.labels" -}}
helm.sh/chart: {{ include "haul.chart" .root }}
{{ include "haul.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: haul
{{- end }}

{{/*
Labels that select a component's pods. Same dict as haul.labels.
*/}}
{{- define "haul.selectorLabels" -}}
app.kubernetes.io/name: {{ include "haul.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The haul image; its tag defaults to the chart's appVersion.
*/}}
{{- define "haul.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The service account of the API, the listener and the migration Job.
*/}}
{{- define "haul.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "haul.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The service account the migration hook Job runs as. A hook runs before the
release's own objects exist, so when the chart creates the service account
the Job gets a hook-created copy of it (templates/migrate-job.yaml).
*/}}
{{- define "haul.migrate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- printf "%s-migrate" (include "haul.fullname" .) }}
{{- else }}
{{- include "haul.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/*
The operator's service account.
*/}}
{{- define "haul.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "haul.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The service account of the ingest and precalc Jobs' pods.
*/}}
{{- define "haul.jobs.serviceAccountName" -}}
{{- if .Values.jobs.serviceAccount.create }}
{{- default (printf "%s-jobs" (include "haul.fullname" .)) .Values.jobs.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.jobs.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Fails the render unless exactly one of database.existingSecret and
database.url is set. values.schema.json rejects both; this also catches
neither, with a message saying what to set.
*/}}
{{- define "haul.database.validate" -}}
{{- $db := .Values.database }}
{{- if and $db.existingSecret $db.url }}
{{- fail "database: set database.existingSecret or database.url, not both" }}
{{- end }}
{{- if not (or $db.existingSecret $db.url) }}
{{- fail "database: no database configured: set database.existingSecret (a Secret in the release's namespace holding the PostgreSQL URL under database.secretKey, default \"url\") or database.url (the chart then creates that Secret); see docs/helm.md" }}
{{- end }}
{{- end }}

{{/*
The Secret holding the database URL that the long-running pods read.
*/}}
{{- define "haul.database.secretName" -}}
{{- include "haul.database.validate" . }}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- printf "%s-database" (include "haul.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The Secret holding the database URL that the migration hook Job reads: a
hook-created copy when the chart holds the URL (see haul.migrate.serviceAccountName).
*/}}
{{- define "haul.migrate.databaseSecretName" -}}
{{- include "haul.database.validate" . }}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- printf "%s-migrate" (include "haul.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The key of the database Secret that holds the URL.
*/}}
{{- define "haul.database.secretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.secretKey }}
{{- else -}}
url
{{- end }}
{{- end }}

{{/*
The container env that gives haul its database: $HAUL_DATABASE_URL from a
Secret. Takes a dict: "root" and "secretName".
*/}}
{{- define "haul.database.env" -}}
- name: HAUL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ include "haul.database.secretKey" .root }}
{{- end }}

{{/*
A pod template's annotations: the global podAnnotations, the component's,
and for pods that read a chart-held database URL its checksum, so they restart
when it changes. Takes a dict: "root", "values" (the component's values) and
"database" (true if the pods read the database URL).
*/}}
{{- define "haul.podAnnotations" -}}
{{- $annotations := merge (deepCopy (.values.podAnnotations | default dict)) (deepCopy (.root.Values.podAnnotations | default dict)) }}
{{- if and .database .root.Values.database.url }}
{{- $_ := set $annotations "checksum/database" (.root.Values.database.url | sha256sum) }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod spec fields every haul pod shares: pull secrets, security context and
placement (a component's nodeSelector, tolerations and affinity replace the
global ones). Takes a dict: "root" and "values" (the component's values).
*/}}
{{- define "haul.podSpec" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with (.values.nodeSelector | default .root.Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.values.tolerations | default .root.Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.values.affinity | default .root.Values.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Container fields every haul container shares: image, pull policy, security
context and resources. Takes the same dict as haul.podSpec.
*/}}
{{- define "haul.container" -}}
image: {{ include "haul.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
{{- with .values.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A resource list as NAME=QUANTITY pairs, comma-separated (the controller's
--job-requests and --job-limits); empty for none.
*/}}
{{- define "haul.resourcePairs" -}}
{{- $pairs := list }}
{{- range $name, $q := . }}
{{- $pairs = append $pairs (printf "%s=%v" $name $q) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}
