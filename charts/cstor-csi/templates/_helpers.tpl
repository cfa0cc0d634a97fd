{{/*
The CSI driver name. Fixed: it is the name openebs/cstor-csi registered, and the name in every
existing cStor PersistentVolume, StorageClass and VolumeSnapshotClass.
*/}}
{{- define "cstor-csi.driverName" -}}
cstor.csi.openebs.io
{{- end }}

{{- define "cstor-csi.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name; components append -controller / -node (kept within 63). */}}
{{- define "cstor-csi.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "cstor-csi.controllerName" -}}
{{ include "cstor-csi.fullname" . }}-controller
{{- end }}

{{- define "cstor-csi.nodeName" -}}
{{ include "cstor-csi.fullname" . }}-node
{{- end }}

{{- define "cstor-csi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cstor-csi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cstor-csi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cstor-csi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cstor-csi
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component: pass (dict "root" $ "component" "controller"). */}}
{{- define "cstor-csi.componentLabels" -}}
{{ include "cstor-csi.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cstor-csi.componentSelectorLabels" -}}
{{ include "cstor-csi.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* "repository:tag" of an image value; pass (dict "image" .Values.x.image "root" $). */}}
{{- define "cstor-csi.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* The node plugin's directory and socket as kubelet sees them on the host. */}}
{{- define "cstor-csi.kubeletDir" -}}
{{- .Values.kubeletDir | trimSuffix "/" }}
{{- end }}

{{- define "cstor-csi.nodePluginDir" -}}
{{ include "cstor-csi.kubeletDir" . }}/plugins/{{ include "cstor-csi.driverName" . }}
{{- end }}

{{- define "cstor-csi.nodeSocket" -}}
{{ include "cstor-csi.nodePluginDir" . }}/csi.sock
{{- end }}

{{/* Seconds kubelet waits after SIGTERM: the plugins' own drain time plus a margin. */}}
{{- define "cstor-csi.terminationGracePeriod" -}}
{{- add .Values.shutdownGracePeriodSeconds 5 }}
{{- end }}

{{/*
Refuses values whose parts contradict each other (values.schema.json checks each value alone).
A sidecar that gives up before the controller answers retries a call that is still running.
*/}}
{{- define "cstor-csi.validate" -}}
{{- $c := .Values.controller }}
{{- $s := .Values.sidecars }}
{{- if ge (int $c.provisionTimeoutSeconds) (int $s.provisioner.timeoutSeconds) }}
{{- fail (printf "controller.provisionTimeoutSeconds (%v) must be less than sidecars.provisioner.timeoutSeconds (%v)" $c.provisionTimeoutSeconds $s.provisioner.timeoutSeconds) }}
{{- end }}
{{- if ge (int $c.expandTimeoutSeconds) (int $s.resizer.timeoutSeconds) }}
{{- fail (printf "controller.expandTimeoutSeconds (%v) must be less than sidecars.resizer.timeoutSeconds (%v)" $c.expandTimeoutSeconds $s.resizer.timeoutSeconds) }}
{{- end }}
{{- if and $s.snapshotter.enabled (ge (int $c.snapshotTimeoutSeconds) (int $s.snapshotter.timeoutSeconds)) }}
{{- fail (printf "controller.snapshotTimeoutSeconds (%v) must be less than sidecars.snapshotter.timeoutSeconds (%v)" $c.snapshotTimeoutSeconds $s.snapshotter.timeoutSeconds) }}
{{- end }}
{{- if and .Values.storageClass.create (not .Values.storageClass.cstorPoolCluster) }}
{{- fail "storageClass.cstorPoolCluster is required when storageClass.create is true" }}
{{- end }}
{{- $ports := list (int $c.healthPort) (int $s.provisioner.httpPort) (int $s.attacher.httpPort) (int $s.resizer.httpPort) }}
{{- if $s.snapshotter.enabled }}{{ $ports = append $ports (int $s.snapshotter.httpPort) }}{{ end }}
{{- if $c.metrics.enabled }}{{ $ports = append $ports (int $c.metrics.port) }}{{ end }}
{{- if ne (len $ports) (len (uniq $ports)) }}
{{- fail (printf "the controller pod's ports must differ: %v" $ports) }}
{{- end }}
{{- if and .Values.node.remount.restartPods (not .Values.node.remount.enabled) }}
{{- fail "node.remount.restartPods needs node.remount.enabled: pods are evicted only so that the monitor can repair their volume" }}
{{- end }}
{{- $nodePorts := list (int .Values.node.healthPort) (int .Values.node.registrarHTTPPort) }}
{{- if .Values.node.metrics.enabled }}{{ $nodePorts = append $nodePorts (int .Values.node.metrics.port) }}{{ end }}
{{- if ne (len $nodePorts) (len (uniq $nodePorts)) }}
{{- fail (printf "the node pod's ports must differ: %v" $nodePorts) }}
{{- end }}
{{- end }}

{{/* Security context of every container that needs nothing from the kernel. */}}
{{- define "cstor-csi.restrictedContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end }}
