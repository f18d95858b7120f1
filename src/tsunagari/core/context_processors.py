"""Template context every page needs: the navigation of all areas."""


def navigation(request):
    return {}
