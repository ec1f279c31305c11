"""What is measured: data sources, mask families and the protocol that pairs them."""
