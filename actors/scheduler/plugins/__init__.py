"""kube-scheduler's default plugins, each a small pure function over the framework's types.

Filter plugins (:mod:`actors.scheduler.plugins.node`), each
``(pod, node_info, state) -> Status | None``:

- NodeUnschedulable — a cordoned node takes only pods tolerating
  ``node.kubernetes.io/unschedulable:NoSchedule``.
- NodeName — a pod with ``spec.nodeName`` fits only that node.
- TaintToleration — NoSchedule/NoExecute taints keep out pods that do not
  tolerate them.
- NodeAffinity — ``nodeSelector`` and required node affinity.
- NodeResourcesFit — room by requests: cpu, memory, ephemeral-storage,
  extended resources, a pod slot.

Score plugins (:mod:`actors.scheduler.plugins.scores`), each
``(pod, node_info, state) -> int``, with their normalizers and default
weights (``DEFAULT_WEIGHTS``):

- NodeResourcesFit (LeastAllocated), weight 1;
- NodeResourcesBalancedAllocation, weight 1;
- NodeAffinity (preferred terms), weight 2;
- TaintToleration (PreferNoSchedule taints), weight 3.

The plugins that look at other pods have modules of their own, each with a
filter and a score: :mod:`actors.scheduler.plugins.interpod`
(InterPodAffinity, weight 2) and :mod:`actors.scheduler.plugins.topology`
(PodTopologySpread, weight 2).

The requests both kinds compare come from :mod:`actors.scheduler.resources`.
"""
