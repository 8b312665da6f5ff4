"""Contains all the data models used in inputs/outputs"""

from .admin_events_response_200 import AdminEventsResponse200
from .api_token_info import ApiTokenInfo
from .audit_entry import AuditEntry
from .audit_page import AuditPage
from .batch_mail import BatchMail
from .batch_mails import BatchMails
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
from .delivery_status import DeliveryStatus
from .dependency_check import DependencyCheck
from .detailed_health import DetailedHealth
from .done import Done
from .error_body import ErrorBody
from .google_start import GoogleStart
from .invitation_detail import InvitationDetail
from .invitation_info import InvitationInfo
from .invitation_status import InvitationStatus
from .invite_response import InviteResponse
from .job_status_response import JobStatusResponse
from .job_view import JobView
from .linked_account import LinkedAccount
from .linked_response import LinkedResponse
from .liveness import Liveness
from .login_code_request import LoginCodeRequest
from .login_request import LoginRequest
from .mail_view import MailView
from .migrations_check import MigrationsCheck
from .minute_view import MinuteView
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
from .throughput import Throughput
from .token_response import TokenResponse
from .upload_csv_body import UploadCsvBody
from .upload_report import UploadReport
from .user_detail import UserDetail
from .user_info import UserInfo
from .user_list_item import UserListItem
from .user_page import UserPage
from .user_update import UserUpdate
from .username_request import UsernameRequest
from .verify_discord_request import VerifyDiscordRequest
from .verify_request import VerifyRequest
from .verify_response import VerifyResponse
from .worker_view import WorkerView
from .workers_check import WorkersCheck

__all__ = (
    "AdminEventsResponse200",
    "ApiTokenInfo",
    "AuditEntry",
    "AuditPage",
    "BatchMail",
    "BatchMails",
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
    "DeliveryStatus",
    "DependencyCheck",
    "DetailedHealth",
    "Done",
    "ErrorBody",
    "GoogleStart",
    "InvitationDetail",
    "InvitationInfo",
    "InvitationStatus",
    "InviteResponse",
    "JobStatusResponse",
    "JobView",
    "LinkedAccount",
    "LinkedResponse",
    "Liveness",
    "LoginCodeRequest",
    "LoginRequest",
    "MailView",
    "MigrationsCheck",
    "MinuteView",
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
    "Throughput",
    "TokenResponse",
    "UploadCsvBody",
    "UploadReport",
    "UserDetail",
    "UserInfo",
    "UserListItem",
    "UsernameRequest",
    "UserPage",
    "UserUpdate",
    "VerifyDiscordRequest",
    "VerifyRequest",
    "VerifyResponse",
    "WorkersCheck",
    "WorkerView",
)
