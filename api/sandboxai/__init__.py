"""SandboxAI compatibility: its own client (`sandboxai-client`) works against /sandboxai/v1 unchanged."""
