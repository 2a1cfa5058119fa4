"""kube-proxy: the node's service rules (what iptables would hold) and the choice of a backend for each connection."""
