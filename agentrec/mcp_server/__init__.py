"""agentrec's tools over the Model Context Protocol: ``agentrec serve-mcp DATASET [--http PORT]``.

``arguments`` turns the agent's registered tools into MCP tools (their schemas
come from the registry's pydantic models, plus who a call is for), ``toolbox``
runs them over candidate pools kept per person, and ``server`` wires both to the
``mcp`` SDK over stdio or streamable HTTP.
"""
