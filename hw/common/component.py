"""A base for the components elaborated from one configuration object.

:class:`ConfigComponent` checks the configuration before anything reads it, keeps it and
exposes it read-only as ``config``; a subclass names its configuration's check and builds its
signature from the checked configuration (:meth:`ConfigComponent._members`).
"""

from collections.abc import Mapping
from typing import Any

from amaranth import Module
from amaranth.lib import wiring

__all__ = ["ConfigComponent", "forward_ports"]


class ConfigComponent(wiring.Component):
    """A component whose signature and logic follow from one configuration object.

    Subclasses set ``_check_config`` to the function that raises ``TypeError`` on a wrong
    configuration (as a ``staticmethod``) and implement :meth:`_members`; extra constructor
    arguments are stored before ``super().__init__(config)`` so that :meth:`_members` can read
    them.

    Parameters
    ----------
    config : object
        The configuration.
    """

    def __init__(self, config: object) -> None:
        self._check_config(config)
        self._config = config
        super().__init__(self._members())

    @staticmethod
    def _check_config(config: object) -> None:
        raise NotImplementedError

    def _members(self) -> dict[str, wiring.Member]:
        """Return the signature members, built from ``self.config``."""
        raise NotImplementedError

    @property
    def config(self) -> Any:
        """The configuration the component is elaborated from."""
        return self._config


def forward_ports(m: Module, outer: wiring.Component, inner: wiring.Component,
                  members: Mapping[str, wiring.Member],
                  outer_names: Mapping[str, object] | None = None) -> None:
    """Join ``inner``'s ports ``members`` to ``outer``'s own ports: the inputs driven from
    outside, the outputs driven out. ``outer_names`` names ``outer``'s ports in the same order
    (by default the same names: a system's AXI port under another prefix)."""
    names = members if outer_names is None else outer_names
    for (name, member), outside in zip(members.items(), names, strict=True):
        if member.flow == wiring.In:
            m.d.comb += getattr(inner, name).eq(getattr(outer, outside))
        else:
            m.d.comb += getattr(outer, outside).eq(getattr(inner, name))
