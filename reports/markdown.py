"""Small Markdown pieces shared by the report's sections."""

__all__ = ["lint_summary"]


def lint_summary(warnings: list[str], name: str) -> str:
    """One line saying the exported ``name.v`` lints clean, or a block listing the warnings."""
    if not warnings:
        return (f"clean (`verilator --lint-only -Wall verilog/{name}.vlt verilog/{name}.v`; "
                f"every waiver in `{name}.vlt` carries its reason)")
    return f"{len(warnings)} warning(s):\n\n```\n" + "\n".join(warnings) + "\n```"
