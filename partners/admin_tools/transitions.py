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
    # What the box asks: a refusal and a cancellation are different questions.
    reason_label = "Reason"
    reason_help = "Kept in the history."

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.required_message:
            self.fields["reason"].error_messages["required"] = self.required_message
        self.fields["reason"].label = self.reason_label
        self.fields["reason"].help_text = self.reason_help

    @classmethod
    def saying(
        cls, required_message: str = "", *, label: str = "", help_text: str = ""
    ) -> type[ReasonForm]:
        """This form, with `required_message` when the reason is left empty, and the box
        labelled `label` (with `help_text` under it)."""
        attrs = {"required_message": required_message or cls.required_message}
        if label:
            attrs["reason_label"] = label
        if help_text:
            attrs["reason_help"] = help_text
        return type(cls.__name__, (cls,), attrs)


NOT_OFFERED = "{label} is not something you may do on this record now."


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
    # What the object is once it ran ("approved"): the list action's message says
    # "2 licenses approved".
    past: str = ""
    # What happens next, said after it ran on one object ("provision by 2026-12-04").
    next_step: Callable[[Any], str] | None = None
    # Asked on a page of its own (the object, the question, the form) rather than in a
    # browser dialog: for moves that cannot be undone, such as a cancellation.
    confirm_page: bool = False

    @property
    def action_name(self) -> str:
        return f"{self.name}_selected"

    def make_form(self, data=None, obj=None, **kwargs) -> TransitionForm | None:
        return self.form(data, obj=obj, **kwargs) if self.form else None

    @property
    def done(self) -> str:
        return self.past or f"{self.name} done"


def said(obj, state: str, step: str = "") -> str:
    """ "DL-19 Acme: approved. Provision by 2026-12-04." """
    message = f"{obj}: {state.lower()}."
    return f"{message} {step[:1].upper()}{step[1:]}." if step else message


def count_of(number: int, noun: str, plural: str = "") -> str:
    """ "1 license", "2 licenses", "3 opportunities"."""
    if number == 1:
        return f"1 {noun}"
    return f"{number} {plural or noun + 's'}"


def form_errors(form: forms.Form) -> list[str]:
    return [message for errors in form.errors.values() for message in errors]


class TransitionsMixin:
    """A model admin whose state moves through its `transitions` table (see the module)."""

    transitions: tuple[Transition, ...] = ()
    # How a list action's result names the rows: "1 license approved", "2 licenses …".
    transition_noun = ""
    transition_noun_plural = ""  # default: the noun and an "s"
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
        """What the object is now, and what happens next."""
        transition = self.transition(name)
        step = transition.next_step(obj) if transition and transition.next_step else ""
        return said(obj, obj.get_state_display(), step)

    def added_message(self, obj) -> str:
        """What the user is told once their request is saved: its state and what next."""
        return said(obj, obj.get_state_display())

    def rows(self, number: int) -> str:
        return count_of(number, self.transition_noun, self.transition_noun_plural)

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
                # Field ids per transition: refuse and cancel both ask for a reason. A move
                # confirmed on a page of its own asks there.
                "form": None if t.confirm_page else t.make_form(obj=obj, auto_id=f"id_{t.name}_%s"),
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

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The buttons' forms bring their widgets' scripts (the admin's date calendar).
        for button in context.get("transition_buttons", ()):
            if button["form"] is not None:
                context["media"] = context["media"] + button["form"].media
        if add and self.transitions_only:
            # A request is saved once, then moves by its buttons: no "continue editing".
            context |= {"show_save_and_continue": False, "show_save_and_add_another": False}
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_add(self, request, obj, post_url_continue=None):
        if not self.transitions_only or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        # The request's page, saying what happens next (Django's "added successfully.
        # You may edit it again below" would promise an edit the page does not offer).
        self.message_user(request, self.added_message(obj), messages.SUCCESS)
        opts = self.model._meta
        if self.has_view_or_change_permission(request, obj):
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        else:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return HttpResponseRedirect(url)

    def transition_view(self, request, object_id, name):
        if request.method != "POST" or self.transition(name) is None:
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"No such {self.model._meta.verbose_name}.")
        opts = self.model._meta
        change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        transition = self.transition(name)
        if transition.confirm_page:
            if not transition.offered(obj, request.user):
                self.message_user(
                    request, NOT_OFFERED.format(label=transition.label), messages.ERROR
                )
                return HttpResponseRedirect(change_url)
            confirmed = request.POST.get("confirm") == "yes"
            form = transition.make_form(request.POST if confirmed else None, obj=obj)
            if not confirmed or (form is not None and not form.is_valid()):
                return self._confirm_page(request, obj, transition, form, change_url)
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
                request, f"{self.rows(len(done))} {transition.done}.", messages.SUCCESS
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
            "title": f"{transition.label.rstrip('…')}: {self.rows(queryset.count())}",
            "objects": queryset,
            "form": form,
            "transition": transition,
            "action": transition.action_name,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/transition_action.html", context)

    def _confirm_page(self, request, obj, transition: Transition, form, change_url: str):
        """The question asked before a move that cannot be undone, about this object,
        with the form its decision needs; "confirm" posts it back to run."""
        context = {
            **self.admin_site.each_context(request),
            "title": f"{transition.label.rstrip('…')}: {obj}",
            "object": obj,
            "form": form,
            "transition": transition,
            "change_url": change_url,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/transition_confirm.html", context)
