from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.channel import Channel
from ..types import UNSET, Unset

T = TypeVar("T", bound="OnboardingRequest")


@_attrs_define
class OnboardingRequest:
    """Seed 001's onboarding form.

    Attributes:
        email (str):
        name (str): Full name, 1 to 200 characters.
        communication_channel (Channel | None | Unset): `discord` (default), `email` or `web`. Default: Channel.DISCORD.
        selected_personality (None | str | Unset): The chat personality the member picked (e.g. `loving`); up to 64
            characters.
    """

    email: str
    name: str
    communication_channel: Channel | None | Unset = Channel.DISCORD
    selected_personality: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        email = self.email

        name = self.name

        communication_channel: None | str | Unset
        if isinstance(self.communication_channel, Unset):
            communication_channel = UNSET
        elif isinstance(self.communication_channel, Channel):
            communication_channel = self.communication_channel.value
        else:
            communication_channel = self.communication_channel

        selected_personality: None | str | Unset
        if isinstance(self.selected_personality, Unset):
            selected_personality = UNSET
        else:
            selected_personality = self.selected_personality

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "email": email,
                "name": name,
            }
        )
        if communication_channel is not UNSET:
            field_dict["communicationChannel"] = communication_channel
        if selected_personality is not UNSET:
            field_dict["selectedPersonality"] = selected_personality

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        email = d.pop("email")

        name = d.pop("name")

        def _parse_communication_channel(data: object) -> Channel | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                communication_channel_type_1 = Channel(data)

                return communication_channel_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Channel | None | Unset, data)

        communication_channel = _parse_communication_channel(d.pop("communicationChannel", UNSET))

        def _parse_selected_personality(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        selected_personality = _parse_selected_personality(d.pop("selectedPersonality", UNSET))

        onboarding_request = cls(
            email=email,
            name=name,
            communication_channel=communication_channel,
            selected_personality=selected_personality,
        )

        onboarding_request.additional_properties = d
        return onboarding_request

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
