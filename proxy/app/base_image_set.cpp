#include "proxy/app/base_image_set.hpp"

namespace regmirror::app {

const std::vector<std::string>& base_image_set() {
  static const std::vector<std::string> kRepositories{
      "kubernetesui/dashboard",
      "kubernetesui/metrics-scraper",
      "k8s.gcr.io/pause",
      "k8s.gcr.io/kube-proxy",
      "quay.io/coreos/flannel",
      "quay.io/coreos/flannel-cni",
      "docker.io/calico/kube-controllers",
      "docker.io/calico/typha",
      "docker.io/calico/cni",
      "docker.io/calico/node",
      "coredns/coredns",
      "k8s.gcr.io/metrics-server-amd64",
      "k8s.gcr.io/metrics-server/metrics-server",
      "gcr.io/google_containers/cluster-proportional-autoscaler-amd64",
      "k8s.gcr.io/cpa/cluster-proportional-autoscaler-amd64",
      "k8s.gcr.io/sig-storage/csi-attacher",
      "k8s.gcr.io/sig-storage/csi-provisioner",
      "k8s.gcr.io/sig-storage/csi-snapshotter",
      "k8s.gcr.io/sig-storage/csi-resizer",
      "k8s.gcr.io/sig-storage/csi-node-driver-registrar",
      "k8s.gcr.io/sig-storage/snapshot-controller",
      "docker.io/k8scloudprovider/cinder-csi-plugin",
      "k8s.gcr.io/node-problem-detector",
      "k8s.gcr.io/node-problem-detector/node-problem-detector",
      "k8s.gcr.io/autoscaling/cluster-autoscaler",
      "nvidia/k8s-device-plugin",
  };
  return kRepositories;
}

}  // namespace regmirror::app
