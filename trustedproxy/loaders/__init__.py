"""Front-ends that turn configuration text into a :class:`~trustedproxy.TrustPolicy`."""
