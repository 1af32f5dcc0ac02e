"""Access control: bucket policies, canned ACLs and the decision that combines them with ownership."""
