# A small Rails application with Devise, set up the way OpenPath HMIS (greenriver/hmis-warehouse) sets up
# its `users`, that the test suite drives to prove hmis-admin's writes against the real Devise code.
#
# Protocol: one JSON object per line on stdin, one JSON answer per line on stdout ({"error": "..."} when an
# op fails). The first line out is {"ready": true, ...}. Everything else Ruby or Rails prints goes to stderr.
#
# Settings come from the environment (test/helpers/devise.ts sets them): DATABASE_URL, DEVISE_SECRET,
# DEVISE_KEY_DIGEST (sha1|sha256), DEVISE_MAXIMUM_ATTEMPTS, DEVISE_UNLOCK_STRATEGY (both|time|email|none),
# DEVISE_UNLOCK_IN, DEVISE_RESET_WITHIN, DEVISE_CONFIRM_WITHIN (seconds). Defaults are OpenPath's.

PROTOCOL = $stdout.dup
PROTOCOL.sync = true
$stdout.reopen($stderr) # a stray `puts` must never corrupt the protocol

ENV['RAILS_ENV'] = 'test'
require 'json'
require 'logger'
require 'openssl'
require 'rails'
require 'active_record/railtie'
require 'action_controller/railtie'
require 'action_mailer/railtie'
require 'devise'
require 'devise/version'

def seconds(name, default) = Integer(ENV.fetch(name, default.to_s)).seconds

KEY_DIGEST = ENV.fetch('DEVISE_KEY_DIGEST', 'sha1')
abort "DEVISE_KEY_DIGEST must be sha1 or sha256, not #{KEY_DIGEST.inspect}" unless %w[sha1 sha256].include?(KEY_DIGEST)

class HarnessApp < Rails::Application
  config.root = __dir__
  config.eager_load = false
  config.secret_key_base = ENV.fetch('DEVISE_SECRET')
  config.logger = Logger.new($stderr)
  config.log_level = :warn
  config.action_mailer.delivery_method = :test
  config.action_mailer.default_url_options = { host: 'hmis.example.org', protocol: 'https' }
end

# Rails 6.1's KeyGenerator is PBKDF2-HMAC-SHA1 only. Rails 7+ apps get SHA-256 when
# ActiveSupport::KeyGenerator.hash_digest_class is set before Devise builds its token generator
# (config.active_support.key_generator_hash_digest_class alone is applied after_initialize: too late).
# This stands in for that key generator so the harness can prove both digests.
class Sha256KeyGenerator
  def initialize(secret) = @secret = secret
  def generate_key(salt, length = 64) = OpenSSL::KDF.pbkdf2_hmac(@secret, salt: salt, iterations: 2**16, length: length, hash: 'sha256')
end

class JsonFailure # Warden's failure app (OpenPath has its own too): say why, in JSON
  def self.call(env) = [401, { 'Content-Type' => 'application/json' }, [{ message: env['warden.options'][:message] }.to_json]]
end

Devise.setup do |config|
  require 'devise/orm/active_record'
  config.secret_key = ENV.fetch('DEVISE_SECRET')
  if KEY_DIGEST == 'sha256'
    config.token_generator = Devise::TokenGenerator.new(ActiveSupport::CachingKeyGenerator.new(Sha256KeyGenerator.new(config.secret_key)))
  end
  config.mailer_sender = 'hmis@example.org'
  config.case_insensitive_keys = [:email]
  config.strip_whitespace_keys = [:email]
  config.stretches = 1
  config.password_length = 12..128
  config.reconfirmable = true
  config.confirm_within = seconds('DEVISE_CONFIRM_WITHIN', 1.day)
  config.lock_strategy = :failed_attempts
  config.unlock_strategy = ENV.fetch('DEVISE_UNLOCK_STRATEGY', 'both').to_sym
  config.maximum_attempts = Integer(ENV.fetch('DEVISE_MAXIMUM_ATTEMPTS', '20'))
  config.unlock_in = seconds('DEVISE_UNLOCK_IN', 1.hour)
  config.last_attempt_warning = true
  config.reset_password_within = seconds('DEVISE_RESET_WITHIN', 6.hours)
  config.sign_in_after_reset_password = false
  config.warden { |manager| manager.failure_app = JsonFailure }
end

# The model exists before the application starts: Devise reads its modules when the routes are drawn and
# configures Warden, once, when the first route set is finalised. A prepended block is drawn before any set is
# finalised, as config/routes.rb would be.
class Agency < ActiveRecord::Base
end

class User < ActiveRecord::Base
  default_scope { where(deleted_at: nil) } # what acts_as_paranoid does in OpenPath: soft-deleted rows do not exist
  belongs_to :agency, optional: true
  devise :database_authenticatable, :recoverable, :lockable, :confirmable, :trackable, :validatable

  # OpenPath: `super && active`. A host without the column has no admin lock.
  def active_for_authentication?
    super && (!has_attribute?(:active) || active)
  end
end

HarnessApp.routes.prepend { devise_for :users }
HarnessApp.initialize!

class ApplicationController < ActionController::Base
  respond_to :html, :json
end

# Devise's answers, normalised for the tests; `message` keeps Devise's own word.
REASONS = { 'not_found_in_database' => 'invalid', 'last_attempt' => 'invalid' }.freeze

module Ops
  module_function

  def request(method, path, body: nil, accept: 'application/json')
    env = Rack::MockRequest.env_for(path, method: method, input: body&.to_json, 'CONTENT_TYPE' => 'application/json', 'HTTP_ACCEPT' => accept)
    status, headers, chunks = Rails.application.call(env)
    text = +''
    chunks.each { |c| text << c }
    chunks.close if chunks.respond_to?(:close)
    [status, headers, text]
  end

  def find(login) = User.unscoped.find_by(Devise.authentication_keys.first => login)

  def row(user)
    return nil unless user

    user.reload.attributes.transform_values { |v| v.respond_to?(:utc) ? v.utc.iso8601(6) : v }.merge(
      'devise' => { 'access_locked' => user.access_locked?, 'active_for_authentication' => user.active_for_authentication?,
                    'inactive_message' => user.inactive_message.to_s, 'confirmed' => user.confirmed?,
                    'pending_reconfirmation' => user.pending_reconfirmation?,
                    'reset_password_period_valid' => !!user.reset_password_period_valid? }
    )
  end

  def create_user(o)
    agency = o['agency'] && Agency.find_or_create_by!(name: o['agency'])
    user = User.new(email: o.fetch('email'), password: o.fetch('password'), first_name: o['first_name'], last_name: o['last_name'] || 'Tester',
                    phone: o['phone'], agency: agency, active: o.fetch('active', true))
    user.skip_confirmation! unless o['confirmed'] == false
    user.save!
    row(user)
  end

  # POST /users/sign_in through the whole Rack stack: Warden's strategy (valid_for_authentication?, which
  # counts failures and locks), then Devise's hooks (active_for_authentication?: active flag, lock, confirmation).
  def sign_in(o)
    status, _, text = request('POST', '/users/sign_in', body: { user: { email: o.fetch('login'), password: o.fetch('password') } })
    return { ok: true, status: status } if status == 201

    message = JSON.parse(text)['message'].to_s
    { ok: false, status: status, reason: REASONS.fetch(message, message), message: message }
  end

  def fail_login(o)
    results = Array.new(o.fetch('times', 1)) { sign_in('login' => o.fetch('login'), 'password' => 'not-the-password-1') }
    results.last.merge(failed_attempts: find(o['login'])&.failed_attempts)
  end

  # Mints a link the way the web application does; the raw token is what its mail carries.
  def send_reset(o)
    ActionMailer::Base.deliveries.clear
    token = find(o.fetch('login')).send_reset_password_instructions
    mail = ActionMailer::Base.deliveries.last
    { token: token, to: mail.to, url: mail.body.encoded[%r{https://\S+reset_password_token=[\w-]+}] }
  end

  # "Forgot password" as the person types it: POST /users/password, where Devise applies case_insensitive_keys
  # and strip_whitespace_keys to the address before it looks the account up.
  def request_reset(o)
    ActionMailer::Base.deliveries.clear
    status, _, text = request('POST', '/users/password', body: { user: { email: o.fetch('typed') } })
    mail = ActionMailer::Base.deliveries.last
    { ok: status < 300 && !mail.nil?, status: status, to: mail&.to, errors: status < 300 ? nil : JSON.parse(text)['errors'] }
  end

  # The person follows the link (GET: the route exists) and submits a new password (PUT /users/password).
  def reset_password(o)
    token = o['token'] || Rack::Utils.parse_query(URI(o.fetch('url')).query)['reset_password_token']
    if o['url']
      status, = request('GET', URI(o['url']).request_uri, accept: 'text/html')
      return { ok: false, status: status, errors: { 'url' => ["GET answered #{status}"] } } unless status == 200
    end
    body = { user: { reset_password_token: token, password: o.fetch('password'), password_confirmation: o.fetch('password') } }
    status, _, text = request('PUT', '/users/password', body: body)
    return { ok: true, status: status } if status < 300

    { ok: false, status: status, errors: JSON.parse(text)['errors'] }
  end

  # GET /users/confirmation?confirmation_token=… (the link as mailed, when `url` is given).
  def confirm(o)
    path = o['url'] ? URI(o['url']).request_uri : "/users/confirmation?confirmation_token=#{CGI.escape(o.fetch('token'))}"
    status, _, text = request('GET', path)
    return { ok: true, status: status } if status < 300

    { ok: false, status: status, errors: JSON.parse(text) }
  end

  def digest(o) = { digest: Devise.token_generator.digest(User, o.fetch('column').to_sym, o.fetch('raw')) }

  def user(o) = { user: row(o['id'] ? User.unscoped.find_by(id: o['id']) : find(o.fetch('login'))) }

  def info(_ = nil)
    { ready: true, devise: Devise::VERSION, rails: Rails.version, ruby: RUBY_VERSION, key_digest: KEY_DIGEST,
      maximum_attempts: Devise.maximum_attempts, unlock_strategy: Devise.unlock_strategy, unlock_in: Devise.unlock_in.to_i,
      reset_password_within: Devise.reset_password_within.to_i, confirm_within: Devise.confirm_within.to_i,
      reconfirmable: Devise.reconfirmable, authentication_keys: Devise.authentication_keys }
  end
end

OPS = %w[create_user sign_in fail_login send_reset request_reset reset_password confirm digest user info].freeze

PROTOCOL.puts(Ops.info.to_json)
$stdin.each_line do |line|
  request = JSON.parse(line)
  op = request['op']
  break if op == 'quit'

  answer = OPS.include?(op) ? Ops.public_send(op, request) : { error: "unknown op #{op.inspect}; known: #{OPS.join(', ')}" }
  PROTOCOL.puts(answer.to_json)
rescue StandardError => e
  PROTOCOL.puts({ error: "#{e.class}: #{e.message}" }.to_json)
ensure
  ActiveRecord::Base.clear_active_connections!
end
