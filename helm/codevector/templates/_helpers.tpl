{{- define "codevector.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "codevector.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "codevector.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "codevector.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "codevector.databaseSecret" -}}
{{- if .Values.postgresql.enabled -}}
{{ printf "%s-database" (include "codevector.fullname" .) }}
{{- else -}}
{{ .Values.database.existingSecret | default (printf "%s-database" (include "codevector.fullname" .)) }}
{{- end -}}
{{- end -}}

{{/* The pod-level security context: the chart's restricted default, a component's keys on top. */}}
{{- define "codevector.podSecurityContext" -}}
{{- toYaml (merge (deepCopy (.component | default dict)) .root.Values.podSecurityContext) -}}
{{- end -}}

{{- define "codevector.encryptionSecret" -}}
{{ .Values.encryptionKey.existingSecret | default (printf "%s-encryption" (include "codevector.fullname" .)) }}
{{- end -}}

{{/* Reuse a generated value across upgrades: read it back from the live Secret when present. */}}
{{- define "codevector.keepOrGenerate" -}}
{{- $existing := lookup "v1" "Secret" .namespace .name -}}
{{- if and $existing (index $existing.data .key) -}}{{ index $existing.data .key }}{{- else -}}{{ .generated | b64enc }}{{- end -}}
{{- end -}}

{{- define "codevector.commonEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "codevector.databaseSecret" . }}
      key: {{ .Values.database.existingSecretKey }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/* DATABASE_URL of one service: its own login (docs/adr/0400), or the migrator's URL when serviceRoles is off. */}}
{{- define "codevector.serviceEnv" -}}
{{- if .root.Values.database.serviceRoles.enabled -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "codevector.dbRolesSecret" .root }}
      key: {{ .service }}-url
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
{{- else -}}
{{ include "codevector.commonEnv" .root }}
{{- end -}}
{{- end -}}

{{- define "codevector.dbRolesSecret" -}}
{{ .Values.database.serviceRoles.existingSecret | default (printf "%s-db-roles" (include "codevector.fullname" .)) }}
{{- end -}}

{{- define "codevector.encryptionEnv" -}}
- name: CODEVECTOR_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "codevector.encryptionSecret" . }}
      key: {{ .Values.encryptionKey.existingSecretKey }}
{{- end -}}

{{- define "codevector.installationNamespace" -}}
{{ .Values.installationNamespace | default .Release.Namespace }}
{{- end -}}

{{/* The namespaces the operator serves, comma-separated; empty in cluster-wide mode. */}}
{{- define "codevector.watchNamespaces" -}}
{{- $list := .Values.operator.watchNamespaces | default list -}}
{{- with .Values.operator.watchNamespace }}{{ $list = append $list . }}{{ end -}}
{{- if $list -}}
{{- $list = append $list (include "codevector.installationNamespace" .) -}}
{{- join "," (uniq $list) -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress every component needs: DNS, and the database on its port only. */}}
{{- define "codevector.baseEgress" }}
    - to: {{- toYaml .Values.networkPolicy.dns | nindent 8 }}
      ports:
        - { protocol: UDP, port: 53 }
        - { protocol: TCP, port: 53 }
    - ports:
        - { protocol: TCP, port: {{ .Values.networkPolicy.database.port }} }
      {{- with .Values.networkPolicy.database.to }}
      to: {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* CODEVECTOR_TENANTS from .Values.tenants: team-a=g1,g2;team-b=g3 (sorted by namespace). */}}
{{- define "codevector.tenants" -}}
{{- $entries := list -}}
{{- range $namespace, $groups := .Values.tenants -}}
{{- $entries = append $entries (printf "%s=%s" $namespace (join "," $groups)) -}}
{{- end -}}
{{- join ";" $entries -}}
{{- end -}}
