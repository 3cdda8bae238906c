"""Instance pages."""

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard import vast


@require_GET
def index(request):
    return render(request, "instances/index.html", {"instances": vast.list_instances()})


def launch(request, offer_id):
    raise Http404("Launching is not built yet.")
