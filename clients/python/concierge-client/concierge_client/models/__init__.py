"""Contains all the data models used in inputs/outputs"""

from .admin_events_response_200 import AdminEventsResponse200
from .api_token_info import ApiTokenInfo
from .batch_queued import BatchQueued
from .batch_status import BatchStatus
from .build_info import BuildInfo
from .channel import Channel
from .check_status import CheckStatus
from .checks import Checks
from .create_token_request import CreateTokenRequest
from .created_token import CreatedToken
from .delete_all_users_confirm import DeleteAllUsersConfirm
from .deleted import Deleted
from .delivery_info import DeliveryInfo
from .dependency_check import DependencyCheck
from .detailed_health import DetailedHealth
from .done import Done
from .error_body import ErrorBody
from .google_start import GoogleStart
from .invitation_info import InvitationInfo
from .invitation_status import InvitationStatus
from .invite_response import InviteResponse
from .job_status_response import JobStatusResponse
from .job_view import JobView
from .linked_response import LinkedResponse
from .liveness import Liveness
from .login_code_request import LoginCodeRequest
from .login_request import LoginRequest
from .migrations_check import MigrationsCheck
from .onboarding_request import OnboardingRequest
from .onboarding_response import OnboardingResponse
from .overall_status import OverallStatus
from .pending_login import PendingLogin
from .progress import Progress
from .queue_summary import QueueSummary
from .queues_check import QueuesCheck
from .readiness import Readiness
from .refresh_request import RefreshRequest
from .refreshed_tokens import RefreshedTokens
from .reissued import Reissued
from .replayed import Replayed
from .role import Role
from .row_result import RowResult
from .row_status import RowStatus
from .state_filter import StateFilter
from .token_response import TokenResponse
from .upload_csv_body import UploadCsvBody
from .upload_report import UploadReport
from .user_info import UserInfo
from .user_list_item import UserListItem
from .user_page import UserPage
from .username_request import UsernameRequest
from .verify_discord_request import VerifyDiscordRequest
from .verify_request import VerifyRequest
from .verify_response import VerifyResponse
from .worker_view import WorkerView
from .workers_check import WorkersCheck

__all__ = (
    "AdminEventsResponse200",
    "ApiTokenInfo",
    "BatchQueued",
    "BatchStatus",
    "BuildInfo",
    "Channel",
    "Checks",
    "CheckStatus",
    "CreatedToken",
    "CreateTokenRequest",
    "DeleteAllUsersConfirm",
    "Deleted",
    "DeliveryInfo",
    "DependencyCheck",
    "DetailedHealth",
    "Done",
    "ErrorBody",
    "GoogleStart",
    "InvitationInfo",
    "InvitationStatus",
    "InviteResponse",
    "JobStatusResponse",
    "JobView",
    "LinkedResponse",
    "Liveness",
    "LoginCodeRequest",
    "LoginRequest",
    "MigrationsCheck",
    "OnboardingRequest",
    "OnboardingResponse",
    "OverallStatus",
    "PendingLogin",
    "Progress",
    "QueuesCheck",
    "QueueSummary",
    "Readiness",
    "RefreshedTokens",
    "RefreshRequest",
    "Reissued",
    "Replayed",
    "Role",
    "RowResult",
    "RowStatus",
    "StateFilter",
    "TokenResponse",
    "UploadCsvBody",
    "UploadReport",
    "UserInfo",
    "UserListItem",
    "UsernameRequest",
    "UserPage",
    "VerifyDiscordRequest",
    "VerifyRequest",
    "VerifyResponse",
    "WorkersCheck",
    "WorkerView",
)
