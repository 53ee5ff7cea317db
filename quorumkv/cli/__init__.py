"""The ``quorumkv`` command: run nodes and local clusters, talk to them, benchmark."""
