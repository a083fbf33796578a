"""What the spec declares, checked without running an episode: the settings and what they make
(params, ``describe``, ``max_steps``), which capabilities it has (JAX, text), the outcomes,
actions and observation size, the hack-free control, and Gymnasium's own checker on the
adapter.

A mixin over :class:`~monarl.envs.checker.core.CheckContext`: ``check_settings`` and
``check_declarations`` set the settings, params, ``max_steps``, ``jax`` (whether the JAX
groups run), actions and observation size the later groups read; ``check_control`` and
``check_gymnasium`` run last, on the settings.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping

from monarl.core.config import ConfigError, field_names, from_mapping, is_int
from monarl.core.protocols import Discrete, MultiDiscrete
from monarl.envs.checker.core import JAX_PARTS, CheckContext, _fields_of, _short


class DeclarationChecks(CheckContext):
    """The settings, the declarations, the control and the Gymnasium adapter."""

    # -- settings and declarations ----------------------------------------------------------

    def check_settings(self) -> None:
        spec = self.spec
        try:
            defaults = spec.settings()
        except Exception as exc:
            raise self.fail("settings", f"the settings class cannot be built with its "
                            f"defaults ({_short(exc)})") from None
        validate = getattr(defaults, "validate", None)
        if validate is not None:
            try:
                validate("env")
            except ConfigError as exc:
                raise self.fail("settings", f"the default settings do not validate: "
                                f"{exc}") from None
        overrides = self.overrides
        if overrides is None:
            self.settings = defaults
        elif isinstance(overrides, spec.settings):
            self.settings = from_mapping(spec.settings, _fields_of(overrides), "env")
        elif isinstance(overrides, Mapping):
            self.settings = from_mapping(spec.settings, dict(overrides), "env")
        else:
            raise ConfigError(f"settings={overrides!r} is invalid: give a mapping of settings "
                              f"of {self.name} or a {spec.settings.__name__}")
        self.settings_dict = _fields_of(self.settings)
        try:
            self.params = spec.make_params(self.settings)
        except Exception as exc:
            raise self.fail("make_params", f"make_params fails on validated settings "
                            f"{self.settings_dict}: {_short(exc)}") from None
        try:
            described = spec.describe(self.params)
            json.dumps(described)
        except Exception as exc:
            raise self.fail("describe", f"describe(params) must give JSON-serialisable "
                            f"settings: {_short(exc)}") from None
        if not isinstance(described, dict):
            raise self.fail("describe", f"describe(params) must give a dict, got "
                            f"{type(described).__name__}")
        max_steps = spec.max_steps(self.settings)
        if not is_int(max_steps) or max_steps < 1:
            raise self.fail("max_steps", f"max_steps(settings) must be an integer >= 1, got "
                            f"{max_steps!r}")
        self.max_steps = int(max_steps)
        self.checked.append("settings")

    def check_declarations(self) -> None:
        """The outcomes, and the JAX declarations (actions, observation size) where the
        environment has the JAX capability; sets ``jax`` (whether it has) and ``actions``
        (None without it, which leaves the Gymnasium adapter out)."""
        self.jax = self._has_jax()
        self._check_outcomes(required=self.jax)
        self.actions = None
        if self.jax:
            self._check_actions()
            self._check_observation_size()

    def _has_jax(self) -> bool:
        """Whether the environment has the JAX capability: its functional API all declared,
        or all None (a text-only environment). Half of it would send every JAX consumer into
        an AttributeError, and an environment with neither has nothing any trainer runs."""
        spec = self.spec
        declared = {name: getattr(spec, name) is not None for name in JAX_PARTS}
        if all(declared.values()):
            return True
        if any(declared.values()):
            missing = [name for name, present in declared.items() if not present]
            raise self.fail("capabilities", f"the JAX capability needs all of "
                            f"{', '.join(JAX_PARTS)}; {', '.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} None (a text-only "
                            "environment sets all of them to None)")
        if spec.text is None:
            raise self.fail("capabilities", f"{', '.join(JAX_PARTS)} are None and there is no "
                            "text capability: an environment needs one of them")
        for group in ("tables", "render", "parse", "start_states"):
            if getattr(spec, group) is not None:
                self.skipped[group] = ("checked along JAX episodes, and this environment has "
                                       "no JAX capability")
        return False

    def _check_outcomes(self, required: bool) -> None:
        """Distinct outcome labels, with ``hack`` and ``intended`` among them; required (non-
        empty) where JAX episodes end with ``info["outcome"]``, an index into them (a text
        environment shows its hack in metrics and may have none)."""
        spec = self.spec
        outcomes = spec.outcomes
        if (not isinstance(outcomes, tuple) or (required and not outcomes)
                or not all(isinstance(o, str) for o in outcomes)
                or len(set(outcomes)) != len(outcomes)):
            what = "a non-empty" if required else "a"
            raise self.fail("outcomes", f"outcomes must be {what} tuple of distinct labels, "
                            f"got {outcomes!r}")
        for field in ("hack", "intended"):
            value = getattr(spec, field)
            if value is not None and value not in outcomes:
                raise self.fail("outcomes", f"{field}={value!r} is not one of the outcomes "
                                f"{outcomes}")

    def _check_actions(self) -> None:
        spec = self.spec
        actions = spec.actions(self.params)
        if isinstance(actions, Discrete):
            kind, ok = "discrete", is_int(actions.n) and actions.n >= 1
            for field in ("letters", "names"):
                listed = getattr(actions, field)
                if listed and len(listed) != actions.n:
                    raise self.fail("actions", f"Discrete({actions.n}) has {len(listed)} "
                                    f"{field}: one per action, or none")
            if actions.letters and any(len(x) != 1 for x in actions.letters):
                raise self.fail("actions", f"letters must be one character each, got "
                                f"{actions.letters}")
        elif isinstance(actions, MultiDiscrete):
            kind = "multi-discrete"
            ok = (is_int(actions.n) and actions.n >= 1 and is_int(actions.length)
                  and actions.length >= 1)
        else:
            raise self.fail("actions", f"actions(params) must be a Discrete or a "
                            f"MultiDiscrete, got {actions!r}")
        if not ok:
            raise self.fail("actions", f"{actions!r} must have n >= 1 (and length >= 1)")
        if spec.action_kind != kind:
            raise self.fail("actions", f"action_kind={spec.action_kind!r} but actions(params) "
                            f"is {type(actions).__name__} ({kind!r})")
        self.actions = actions

    def _check_observation_size(self) -> None:
        size = self.spec.observation_size(self.params)
        if not is_int(size) or size < 1:
            raise self.fail("observation_size", f"observation_size(params) must be an integer "
                            f">= 1, got {size!r}")
        self.obs_size = int(size)

    # -- control ----------------------------------------------------------------------------

    def check_control(self) -> None:
        control = self.spec.control
        if not self.wanted("control", control is not None):
            return
        known = field_names(self.spec.settings)
        unknown = [f for f in control.fields if f not in known]
        if not control.fields or unknown:
            raise self.fail("control", f"control.fields={control.fields} must name settings "
                            f"of {self.spec.settings.__name__} (known: {', '.join(known)})")
        try:
            made = control.make(self.settings)
        except Exception as exc:
            raise self.fail("control", f"control.make(settings) fails: {_short(exc)}") from None
        if not isinstance(made, self.spec.settings):
            raise self.fail("control", f"control.make(settings) must give a "
                            f"{self.spec.settings.__name__}, got {type(made).__name__}")
        made_fields = _fields_of(made)
        try:
            from_mapping(self.spec.settings, made_fields, "env")
        except ConfigError as exc:
            raise self.fail("control", f"control.make(settings) gives invalid settings: "
                            f"{exc}") from None
        if not control.is_control(made):
            raise self.fail("control", f"is_control(make(settings)) is false for {made_fields}")
        changed = {k: (self.settings_dict[k], v) for k, v in made_fields.items()
                   if v != self.settings_dict[k] and k not in control.fields}
        if changed:
            shown = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise self.fail("control", f"make(settings) changes settings outside "
                            f"control.fields {control.fields}: {shown}")
        try:
            self.spec.make_params(made)
        except Exception as exc:
            raise self.fail("control", f"make_params fails on the control's settings: "
                            f"{_short(exc)}") from None
        self.checked.append("control")

    # -- gymnasium --------------------------------------------------------------------------

    def check_gymnasium(self) -> None:
        if not self.wanted("gymnasium", isinstance(self.actions, Discrete)):
            return
        try:
            from gymnasium.utils.env_checker import check_env as gym_check_env
        except ImportError:
            self.skipped["gymnasium"] = "gymnasium is not installed"
            return
        if self.reference is None:
            self.skipped["gymnasium"] = ("the adapter builds environments by name, and this "
                                         "spec is not the registry's")
            return
        from monarl.envs.gymnasium import MonarlGymEnv

        try:
            env = MonarlGymEnv(self.reference, **self.settings_dict)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*not having a spec")
                gym_check_env(env, skip_render_check=True)
        except Exception as exc:
            raise self.fail("gymnasium", f"gymnasium's check_env fails on MonarlGymEnv: "
                            f"{_short(exc)}") from None
        self.checked.append("gymnasium")
