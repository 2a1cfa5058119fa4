"""The cluster DNS add-on: the records CoreDNS's kubernetes plugin serves, and how a pod's resolver asks for them."""
