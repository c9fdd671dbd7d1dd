"""Security review: the attack suite, policy review and diff, and the campaign audit."""
