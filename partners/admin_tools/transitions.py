"""State transitions as data: one table per model drives the buttons on an object's page,
the list actions, and who is offered either.

A `Transition` names the service that moves the state, who is offered it (on one object,
and as a list action), the form its decision needs (a reason, a date, a contact) and the
question asked before it runs. `TransitionsMixin` turns a model admin's `transitions`
table into:
- a "Next step" panel on the change page (templates/admin/transitions_change_form.html),
  each button a POST to `<id>/transition/<name>/`; the change form itself saves nothing;
- a list action `<name>_selected` per transition with an `action` description, offered
  only to the roles that may run it, asking for the form (and the confirmation) on an
  intermediate page before it runs on each selected row.
The services check roles and states again: the table decides what is offered, not what is
allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse


class TransitionForm(forms.Form):
    """What a transition's decision needs; `obj` is the object it is about (None for a
    list action over several)."""

    def __init__(self, data=None, *, obj=None, **kwargs):
        self.obj = obj
        super().__init__(data, **kwargs)


class ReasonForm(TransitionForm):
    """The reason given when refusing, cancelling or revoking: kept in the history."""

    # The message when it is left empty; an app may say where the reason is kept.
    required_message = ""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.required_message:
            self.fields["reason"].error_messages["required"] = self.required_message

    @classmethod
    def saying(cls, required_message: str) -> type[ReasonForm]:
        """This form, with `required_message` when the reason is left empty."""
        return type(cls.__name__, (cls,), {"required_message": required_message})


def nobody(user) -> bool:
    return False


@dataclass(frozen=True)
class Transition:
    """One move of a model's state.

    `run(obj, user, data)` calls the service with the form's cleaned data and returns the
    object (or None); `offered(obj, user)` says whether the button shows on that object's
    page; `may(user)` whether the list action is offered to that user at all.
    """

    name: str
    label: str
    run: Callable[[Any, Any, dict], Any]
    offered: Callable[[Any, Any], bool]
    may: Callable[[Any], bool] = nobody
    form: type[TransitionForm] | None = None
    # Asked before it runs: a browser confirmation on the page, a page for a list action.
    confirm: str = ""
    danger: bool = False
    # The list action's description; empty: the transition is a button only.
    action: str = ""

    @property
    def action_name(self) -> str:
        return f"{self.name}_selected"

    def make_form(self, data=None, obj=None, **kwargs) -> TransitionForm | None:
        return self.form(data, obj=obj, **kwargs) if self.form else None


def form_errors(form: forms.Form) -> list[str]:
    return [message for errors in form.errors.values() for message in errors]


class TransitionsMixin:
    """A model admin whose state moves through its `transitions` table (see the module)."""

    transitions: tuple[Transition, ...] = ()
    # How a list action's result names the rows, e.g. "license" → "2 license(s): …".
    transition_noun = ""
    change_form_template = "admin/transitions_change_form.html"
    # The buttons are the only way to change the object (licenses, permissions): the
    # change form saves nothing and shows no Save. False: the record is edited as well.
    transitions_only = True

    # --- The table ---

    def transition(self, name: str) -> Transition | None:
        return next((t for t in self.transitions if t.name == name), None)

    def transitions_for(self, obj, user) -> list[Transition]:
        """The buttons this user is offered on this object."""
        return [t for t in self.transitions if t.offered(obj, user)]

    def run_transition(self, name: str, obj, user, data):
        """Validate the transition's form on `data` and call its service; ValidationError
        when the form or the service refuses."""
        transition = self.transition(name)
        if transition is None:
            raise ValidationError(f"Unknown action {name}.")
        form = transition.make_form(data, obj=obj)
        if form is not None and not form.is_valid():
            raise ValidationError(form_errors(form))
        return transition.run(obj, user, form.cleaned_data if form is not None else {})

    # --- Hooks ---

    def transition_done(self, request, obj, name):
        """A page of its own after a transition (None: back to the object's page)."""
        return None

    def transitions_done(self, request, done: list, name: str):
        """A page of its own after a list action (None: back to the list)."""
        return None

    def transition_message(self, obj, name: str) -> str:
        return f"{obj}: {obj.get_state_display().lower()}."

    # --- The change page ---

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path(
                "<path:object_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name=f"{info[0]}_{info[1]}_transition",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        transitions = self.transitions_for(obj, request.user) if obj else []
        opts = self.model._meta
        buttons = [
            {
                "transition": t,
                "url": reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_transition", args=[obj.pk, t.name]
                ),
                # Field ids per transition: refuse and cancel both ask for a reason.
                "form": t.make_form(obj=obj, auto_id=f"id_{t.name}_%s"),
            }
            for t in transitions
        ]
        extra_context = {
            **(extra_context or {}),
            "transitions": transitions,
            "transition_buttons": buttons,
        }
        if self.transitions_only:
            extra_context |= {
                "show_save": False,
                "show_save_and_continue": False,
                "show_save_and_add_another": False,
                "show_delete": False,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request, object_id, name):
        if request.method != "POST" or self.transition(name) is None:
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"No such {self.model._meta.verbose_name}.")
        opts = self.model._meta
        change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        try:
            obj = self.run_transition(name, obj, request.user, request.POST) or obj
        except ValidationError as error:
            for message in error.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(change_url)
        response = self.transition_done(request, obj, name)
        if response is not None:
            return response
        obj.refresh_from_db()
        self.message_user(request, self.transition_message(obj, name), messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    # --- List actions ---

    def get_actions(self, request):
        actions = super().get_actions(request)
        for transition in self.transitions:
            if transition.action and transition.may(request.user):
                actions[transition.action_name] = (
                    self._list_action(transition),
                    transition.action_name,
                    transition.action,
                )
        return actions

    def _list_action(self, transition: Transition):
        def action(model_admin, request, queryset):
            return model_admin.run_action(request, queryset, transition)

        action.__name__ = transition.action_name
        return action

    def run_action(self, request, queryset, transition: Transition):
        """Ask for the transition's form (and confirmation) if it has one, then run it on
        every selected row, each refusal reported by name."""
        if transition.form or transition.confirm:
            fields = set(transition.form.base_fields) if transition.form else set()
            answered = "confirm" in request.POST or fields & set(request.POST)
            form = transition.make_form(request.POST if answered else None)
            if not answered or (form is not None and not form.is_valid()):
                return self._ask(request, queryset, transition, form)
        done = self.run_on_each(request, queryset, transition.name, request.POST)
        if not done:
            return None
        response = self.transitions_done(request, done, transition.name)
        if response is None:
            self.message_user(
                request,
                f"{len(done)} {self.transition_noun}(s): {transition.name} done.",
                messages.SUCCESS,
            )
        return response

    def run_on_each(self, request, queryset, name: str, data) -> list:
        """The transition on every selected row, each refusal reported."""
        done = []
        for obj in queryset:
            try:
                done.append(self.run_transition(name, obj, request.user, data) or obj)
            except ValidationError as error:
                self.message_user(request, f"{obj}: {' '.join(error.messages)}", messages.ERROR)
        return done

    def _ask(self, request, queryset, transition: Transition, form):
        context = {
            **self.admin_site.each_context(request),
            "title": f"{transition.label} {queryset.count()} {self.transition_noun}(s)",
            "objects": queryset,
            "form": form,
            "transition": transition,
            "action": transition.action_name,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/transition_action.html", context)
