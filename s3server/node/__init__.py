"""Storage nodes: the blob service on its own port (server.py), the signed protocol between gateways
and nodes (signing.py), and the gateway's side (client.py: one node; remote.py: the BlobStore over
many; cluster.py: replica repair and the reaper across nodes). docs/CLUSTER.md has the design."""
