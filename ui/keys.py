"""Every session-state key the page writes in one place and reads in another."""

CANVAS_VERSION = "canvas_version"  # bumped by Clear: a new canvas key gives a new, empty canvas
VIEW = "view"  # the open tab: ui.views.DRAW, LEARNED or GOOD
SOURCE = "source"  # the input picked: Draw, Several digits, Upload a photo, A test digit
UPLOADED_FILE = "upload"  # the file uploader's own state: the file picked, readable or not
TEST_DIGIT_INDEX = "test_digit"  # index of the MNIST test digit shown as the input
SCROLL_TO_INPUT = "scroll_to_input"  # a test digit was picked far down the page: scroll up to it once
JUST_SAVED = "just_saved"  # the label of a drawing saved on the last run, for a toast on this one
WATCHED_RUNNING = "watched_running"  # whether a retrain ran when this session last looked
JUST_RESTORED = "just_restored"  # the shipped model was restored on the last run, to say so on this one
SAVED_DRAWING = "saved_drawing"  # (fingerprint, label) of the drawing last saved: it is not asked about again
EXPLAIN = "explain_on"  # whether "Why this answer?" is on, kept across runs that do not show the switch
INSIDE = "inside_on"  # whether "Inside the network" is on, kept like EXPLAIN
CURRENT_INPUT = "current_input"  # the 28x28 input last answered, read again by each epoch of a retrain
PRESENTER = "presenter"  # the Presenter mode switch, read before it is drawn to lay out the header
SPEAK = "speak"  # the presenter's "Say it aloud" switch
SPOKEN = "spoken"  # (drawing, words) last said aloud, so that a rerun does not say it again
PASSWORD = "password"  # the admin password box, read again by its on_change check
ROOM = "room"  # the code of the room this presenter's session runs
ROOM_PROMPT = "room_prompt"  # the presenter's prompt picker: "any digit" or a digit
ROOM_SENT = "room_sent"  # ("ok" or "error", words) after a phone's Send, to say so on the next run
HIDE_PHONE = "hide_phone"  # the wall's switch: hiding a drawing hides all of its phone's, and stops that phone
WALL_LAST = "wall_last"  # the last RoomState the wall read, shown while the store is out of reach
WALL_SHOWN = "wall_shown"  # time.time() when this projector last told the store it shows its room
JOINED = "joined"  # time.time() when this phone first joined its room (the store says): it sends a few seconds later
PHONE = "phone_token"  # this phone's random token in a room, kept in its address: no name, no address
RERUN_BUDGET = "rerun_budget"  # this session's digitnet.state.limits.RerunBudget: how fast it may ask for runs
